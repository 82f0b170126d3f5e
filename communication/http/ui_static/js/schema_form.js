// A form generated from a workflow type's input JSON schema (pydantic's model_json_schema()).
// Scalars get inputs (number, text, select for enums, checkbox); arrays, objects and $refs get a JSON
// textarea. Empty optional fields are left out, so the server applies its defaults.

import { field, h } from './dom.js';

/** The effective schema of a property: unwraps anyOf [X, null] (pydantic's Optional) into X + nullable. */
function effective(prop) {
  if (Array.isArray(prop.anyOf)) {
    const others = prop.anyOf.filter((s) => s.type !== 'null');
    if (others.length === 1) return { ...others[0], ...prop, anyOf: undefined, type: others[0].type, nullable: true };
    return { ...prop, type: 'json' };
  }
  if (prop.$ref || prop.allOf) return { ...prop, type: 'json' };
  return prop;
}

function control(name, schema, required) {
  const common = { name, id: `input-${name}`, 'data-kind': schema.type };
  if (Array.isArray(schema.enum)) {
    const options = schema.enum.map((v) => h('option', { value: JSON.stringify(v) }, String(v)));
    const empty = required ? null : h('option', { value: '' }, '(default)');
    const select = h('select', { ...common, 'data-kind': 'enum' }, empty, options);
    select.value = schema.default === undefined || schema.default === null ? '' : JSON.stringify(schema.default);
    return select;
  }
  switch (schema.type) {
    case 'integer':
    case 'number':
      return h('input', {
        ...common,
        type: 'number',
        step: schema.type === 'integer' ? '1' : 'any',
        min: schema.minimum ?? null,
        max: schema.maximum ?? null,
        value: schema.default ?? '',
        required: required || null,
      });
    case 'boolean':
      return h('input', { ...common, type: 'checkbox', checked: schema.default === true });
    case 'string':
      return h('input', {
        ...common,
        type: 'text',
        maxlength: schema.maxLength ?? null,
        value: schema.default ?? '',
        required: required || null,
        autocomplete: 'off',
      });
    default:
      return h('textarea', {
        ...common,
        'data-kind': 'json',
        rows: 3,
        spellcheck: 'false',
        value: schema.default === undefined ? '' : JSON.stringify(schema.default),
        placeholder: 'JSON',
      });
  }
}

function hint(schema) {
  const parts = [];
  if (schema.description) parts.push(schema.description);
  const low = schema.minimum ?? (schema.exclusiveMinimum !== undefined ? `>${schema.exclusiveMinimum}` : undefined);
  if (low !== undefined || schema.maximum !== undefined) parts.push(`range ${low ?? '−∞'}…${schema.maximum ?? '∞'}`);
  // Not an HTML pattern attribute: browsers compile it with the v flag, where these classes are invalid.
  if (schema.pattern) parts.push(`pattern ${schema.pattern}`);
  return parts.join(' · ');
}

/** Form fields for `schema` (an object schema); returns the elements to put in a <form>. */
export function schemaFields(schema) {
  const props = schema.properties || {};
  const required = new Set(schema.required || []);
  const fields = Object.entries(props).map(([name, raw]) => {
    const prop = effective(raw);
    const label = `${prop.title || name}${required.has(name) ? ' *' : ''}`;
    return field(label, control(name, prop, required.has(name)), hint(prop));
  });
  if (schema.additionalProperties === true) {
    fields.push(field('Extra fields', h('textarea', { name: '__extra__', 'data-kind': 'json', rows: 2,
      placeholder: '{"any": "JSON object"}', spellcheck: 'false' }), 'Other input fields, as a JSON object.'));
  }
  return fields;
}

/** The input object from a generated form; throws Error with a readable message for invalid JSON. */
export function formInput(form) {
  const input = {};
  for (const el of form.querySelectorAll('[data-kind]')) {
    const name = el.name;
    const kind = el.dataset.kind;
    if (kind === 'boolean') {
      input[name] = el.checked;
      continue;
    }
    const text = el.value.trim();
    if (text === '') continue; // the server's default applies
    if (kind === 'integer' || kind === 'number') input[name] = Number(text);
    else if (kind === 'enum') input[name] = JSON.parse(text);
    else if (kind === 'string') input[name] = el.value;
    else {
      let value;
      try {
        value = JSON.parse(text);
      } catch (err) {
        throw new Error(`${name}: not valid JSON (${err.message})`);
      }
      if (name === '__extra__') Object.assign(input, value);
      else input[name] = value;
    }
  }
  return input;
}
