// `vma list` prints the creation time with C's ctime(): local time, as
// "Sat Nov 21 22:46:19 2026" (day of month padded with a space), and the
// header field is a signed 64-bit time_t that nothing bounds. glibc prints
// any year that fits in an int (year 300 million as readily as 2026); past
// that, ctime() returns NULL and printf prints "(null)".
//
// JavaScript's Date stops at year 275760 either side of 1970, so a time past
// that is first moved by whole 400-year Gregorian cycles (146097 days, a
// whole number of weeks: the weekday, the calendar and the time-zone rules
// repeat) into years whose zone rules are the same, and the cycles are
// added back to the year.

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat']
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
const CYCLE = 146097n * 86400n // seconds in 400 Gregorian years
const JS_LAST = 8640000000000n // seconds: the last time a Date holds, either side of 1970
const YEAR_1000 = -30610224000n // 1 Jan 1000 00:00:00 UTC
const YEAR_2400 = 13569465600n // 1 Jan 2400 00:00:00 UTC
const INT_MAX = 2147483647
const INT_MIN = -2147483648

/** What C's ctime() gives for `seconds` (without its newline), or undefined where it returns NULL. */
export function cTimeOrNull(seconds: number | bigint): string | undefined {
  if (typeof seconds === 'number' && !Number.isFinite(seconds)) return undefined
  const t = typeof seconds === 'number' ? BigInt(Math.trunc(seconds)) : seconds
  // Within Date's range as it is; beyond, into 2400-2799 (after every zone's
  // last transition: glibc extrapolates its final rule, as Date does; 1970-
  // 2369 would meet past rules, such as no summer time in 1970s Germany) or,
  // before the past end, 1000-1399 (the zone's local mean time).
  const base = t > JS_LAST ? YEAR_2400 : t < -JS_LAST ? YEAR_1000 : t
  let cycles = (t - base) / CYCLE
  let rest = t - cycles * CYCLE
  if (rest < base) {
    rest += CYCLE
    cycles -= 1n
  }
  const d = new Date(Number(rest) * 1000)
  const year = BigInt(d.getFullYear()) + cycles * 400n
  // glibc keeps year - 1900 in an int, and asctime refuses a year that overflows one.
  if (year > BigInt(INT_MAX) || year - 1900n < BigInt(INT_MIN)) return undefined
  const two = (n: number) => String(n).padStart(2, '0')
  return `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ${year}`
}

/** The time in ISO 8601 (UTC), or undefined past what a Date holds (a damaged header's time). */
export function isoTime(seconds: number): string | undefined {
  return Math.abs(seconds) <= Number(JS_LAST) ? new Date(seconds * 1000).toISOString() : undefined
}

/** ctime()'s text, or "(null)" as printf shows a NULL string. */
export function cTime(seconds: number | bigint): string {
  return cTimeOrNull(seconds) ?? '(null)'
}
