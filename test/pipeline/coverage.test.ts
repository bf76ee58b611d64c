import { describe, expect, it } from 'vitest';
import type { ArchiveFile } from '../../src/ingest/archive.js';
import { coverageNotes, coverageOf } from '../../src/pipeline/coverage.js';

/** How much of a day an archive holds: one collector's slots, and several routers' side by side. */

const DAY = { fromMs: Date.parse('2026-11-01T00:00:00Z'), toMs: Date.parse('2026-11-02T00:00:00Z') };
const file = (dir: string, hhmm: string): ArchiveFile => {
  const relPath = `${dir}/2026/11/01/nfcapd.20261101${hhmm}`;
  return { path: `/data/live/${relPath}`, relPath, slotStartMs: Date.parse(`2026-11-01T${hhmm.slice(0, 2)}:${hhmm.slice(2)}:00Z`), size: 1 };
};
const slots = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `${String(Math.floor((from + i) / 12)).padStart(2, '0')}${String(((from + i) % 12) * 5).padStart(2, '0')}`);

describe('coverage of a day', () => {
  it('one collector: the slots without a file, as runs', () => {
    const files = [...slots(0, 100), ...slots(110, 288)].map((t) => file('rtr1', t));
    const c = coverageOf(files, DAY, 'UTC', 300);
    expect(c).toMatchObject({ expected: 288, present: 278, missing: [{ from: '2026-11-01T08:20:00.000Z', to: '2026-11-01T09:10:00.000Z', slots: 10 }] });
    expect(c.routers).toBeUndefined();
    expect(coverageNotes('2026-11-01', c, 'UTC')).toEqual(['2026-11-01: 10 of 288 300-second slots have no nfcapd file (UTC): 08:20-09:10']);
  });

  it("several routers: a slot is present when every router has its file; one router down is said, not hidden by the others", () => {
    const files = [...slots(0, 288).map((t) => file('rtr1', t)), ...slots(0, 6).map((t) => file('rtr2', t))];
    const c = coverageOf(files, DAY, 'UTC', 300);
    expect(c.present).toBe(6);
    expect(c.routers).toEqual({
      rtr1: { present: 288, missing: [] },
      rtr2: { present: 6, missing: [{ from: '2026-11-01T00:30:00.000Z', to: '2026-11-02T00:00:00.000Z', slots: 282 }] },
    });
    expect(coverageNotes('2026-11-01', c, 'UTC')).toEqual(['2026-11-01, router rtr2: 282 of 288 300-second slots have no nfcapd file (UTC): 00:30-00:00']);
    // a router of the archive without a file all day is all gap
    const down = coverageOf(slots(0, 288).map((t) => file('rtr1', t)), DAY, 'UTC', 300, ['rtr1', 'rtr2']);
    expect(down.present).toBe(0);
    expect(down.routers!.rtr2).toEqual({ present: 0, missing: [{ from: '2026-11-01T00:00:00.000Z', to: '2026-11-02T00:00:00.000Z', slots: 288 }] });
  });
});
