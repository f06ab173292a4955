/** GpuInfo as the lines a person reads (the GPU page shows them; `topiary info` has its own one line). */
import { ms } from '../common/format';
import type { GpuInfo } from '../common/contract/gpu';

export function gpuSummary(info: GpuInfo): string[] {
  const lines: string[] = [];
  if (info.backend) {
    const t = info.selfTest;
    lines.push(`GPU: ${info.backend} on ${info.adapter ?? 'an unnamed adapter'}${info.software ? ' (software rendering, not a real GPU)' : ''}`);
    if (t) lines.push(`self-test: passed, ${t.steps} Adam steps, loss ${t.gpuLoss.toPrecision(6)} vs cpu ${t.cpuLoss.toPrecision(6)} (${ms(t.ms, 0)})`);
  } else {
    lines.push('GPU: none usable; training stays on the CPU');
  }
  for (const s of info.skipped) lines.push(`${s.name} not used: ${s.reason}`);
  return lines;
}
