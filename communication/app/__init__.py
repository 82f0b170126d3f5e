"""The composition room: the application factory (:mod:`communication.app.factory`) and the mount into a host app
(:mod:`communication.app.mount`), which put the v1 API (:mod:`communication.http`) and, optionally, the seed's
compatibility room (:mod:`communication.compat`) together."""
