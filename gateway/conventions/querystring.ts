// The query string parser (SPEC 2): names are case-insensitive (lower-cased here, so the
// schemas use lower-case names), values are percent-decoded once and a `+` stays a `+` (a raw
// base64 challenge keeps its plus signs). The first occurrence of a repeated name wins.

export function parseQueryString(query: string): Record<string, string> {
  // One pass over the text, no intermediate arrays or Map: it runs on every request.
  const values: Record<string, string> = {};
  let start = 0;
  while (start <= query.length) {
    let end = query.indexOf('&', start);
    if (end === -1) end = query.length;
    if (end > start) {
      const equals = query.indexOf('=', start);
      const hasValue = equals !== -1 && equals < end;
      const name = decode(query.slice(start, hasValue ? equals : end)).toLowerCase();
      if (name !== '' && name !== '__proto__' && !Object.hasOwn(values, name)) {
        values[name] = hasValue ? decode(query.slice(equals + 1, end)) : '';
      }
    }
    start = end + 1;
  }
  return values;
}

/** Percent-decodes; malformed escapes are kept as they are, for the value checks to refuse. */
function decode(text: string): string {
  if (!text.includes('%')) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
