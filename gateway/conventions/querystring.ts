// The query string parser (SPEC 2): names are case-insensitive (lower-cased here, so the
// schemas use lower-case names), values are percent-decoded once and a `+` stays a `+` (a raw
// base64 challenge keeps its plus signs). The first occurrence of a repeated name wins.

export function parseQueryString(query: string): Record<string, string> {
  const values = new Map<string, string>();
  for (const pair of query.split('&')) {
    if (pair === '') continue;
    const equals = pair.indexOf('=');
    const name = decode(equals === -1 ? pair : pair.slice(0, equals)).toLowerCase();
    if (name === '' || name === '__proto__' || values.has(name)) continue;
    values.set(name, equals === -1 ? '' : decode(pair.slice(equals + 1)));
  }
  return Object.fromEntries(values);
}

/** Percent-decodes; malformed escapes are kept as they are, for the value checks to refuse. */
function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
