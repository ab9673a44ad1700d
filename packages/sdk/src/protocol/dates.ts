// RFC 1123 dates as OAS sends them: `Tue, 25 Mar 2014 12:00:00 GMT`.

export function formatRfc1123(date: Date | number = new Date()): string {
  return (typeof date === 'number' ? new Date(date) : date).toUTCString();
}

const RFC1123 = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{1,2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Milliseconds since the epoch, or null when the text is not an RFC 1123 GMT date. */
export function parseRfc1123(text: string | undefined): number | null {
  const m = text ? RFC1123.exec(text.trim()) : null;
  if (!m) return null;
  const ms = Date.UTC(Number(m[4]), MONTHS.indexOf(m[3]!), Number(m[2]), Number(m[5]), Number(m[6]), Number(m[7]));
  const check = new Date(ms);
  // Reject impossible dates (31 Feb) that Date.UTC would roll over.
  return check.getUTCDate() === Number(m[2]) && Number(m[5]) < 24 && Number(m[6]) < 60 && Number(m[7]) < 60 ? ms : null;
}
