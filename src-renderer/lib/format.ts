// The renderer's number formats are the app's one formatter module (src-main/common/format.ts), so
// a size or percentage reads the same here, in the CLI and in the HTML report.
import { count, bytes, duration, ms as msWith, percent } from '../../src-main/common/format';

export { bytes, count, duration };
export const pct = (n: number | undefined): string => percent(n);
/** Two decimals: the window shows latencies next to each other, not to the microsecond. */
export const ms = (n: number | undefined): string => msWith(n, 2);
