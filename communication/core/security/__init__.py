"""Credentials and signatures: API keys and read tokens, single-use approval links, webhook verification."""
