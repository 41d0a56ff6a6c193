// Money as the API sends it: integer minor units with an ISO 4217 currency.

// currencyDigits is the number of minor-unit digits of an ISO 4217 currency.
export function currencyDigits(currency) {
  try {
    return new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits;
  } catch {
    return 2;
  }
}

// formatMoney formats integer minor units: (1999, "EUR") → "€19.99".
export function formatMoney(cents, currency = "USD") {
  const digits = currencyDigits(currency);
  const value = Number(cents) / 10 ** digits;
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(value);
  } catch {
    return `${value.toFixed(digits)} ${currency}`;
  }
}

// parseMoney turns "12.50" typed by a person into minor units, or null.
export function parseMoney(text, currency = "USD") {
  const s = String(text).trim().replace(",", ".");
  if (!/^\d+(\.\d+)?$/.test(s)) return null;
  const digits = currencyDigits(currency);
  return Math.round(Number(s) * 10 ** digits);
}
