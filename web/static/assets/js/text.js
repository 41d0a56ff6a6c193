// Measuring and wording text: code points as the server counts them, and
// plural forms.

// codePoints counts Unicode code points, as the server limits text.
export const codePoints = (s) => [...s].length;

const rules = new Intl.PluralRules("en");

// pluralWord is the form of a word for a count: pluralWord(1, "order") →
// "order", pluralWord(3, "order") → "orders"; many is the plural form when
// it is not one + "s".
export function pluralWord(n, one, many = `${one}s`) {
  return rules.select(Number(n) || 0) === "one" ? one : many;
}

// plural words a count: plural(1, "order") → "1 order", plural(3, "order")
// → "3 orders".
export function plural(n, one, many = `${one}s`) {
  const count = Number(n) || 0;
  return `${count.toLocaleString()} ${pluralWord(count, one, many)}`;
}

// initial is the first letter of a name, upper case, for an avatar.
export function initial(name) {
  const c = [...String(name || "").trim()][0];
  return c ? c.toLocaleUpperCase() : "?";
}
