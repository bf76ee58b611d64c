import { describe, expect, it } from 'vitest';
import { METRICS, type Metric } from '../../src/engines/engine.js';
import { checkMetric, keyToDistance, METRIC_TABLE, metricLabel, metricSpec } from '../../src/engines/metrics.js';
import { FlowknnError } from '../../src/errors.js';
import { mulberry32, testSeed } from '../helpers/random.js';
import { referenceDistance } from '../helpers/reference.js';

/** The key each family accumulates, written out from the family's definition. */
function familyKey(a: Float64Array, b: Float64Array, metric: Metric): number {
  const gaps = Array.from(a, (v, i) => Math.abs(v - b[i]!));
  switch (metricSpec(metric).family) {
    case 'squares':
      return gaps.reduce((s, g) => s + g * g, 0);
    case 'absolute':
      return gaps.reduce((s, g) => s + g, 0);
    case 'maximum':
      return Math.max(...gaps);
    case 'power':
      return gaps.reduce((s, g) => s + g ** metric.p!, 0);
    case 'angle':
      return referenceDistance(a, b, metric);
  }
}

describe('the metric table', () => {
  const metrics: Metric[] = METRICS.map((name) => (name === 'minkowski' ? { name, p: 3 } : { name }));
  const random = mulberry32(testSeed('metric table'));
  const vector = () => Float64Array.from({ length: 5 }, () => random() * 4 - 2);

  it.each(metrics.map((m) => [m.name, m] as const))('%s: distance from its family key, and its degree, match the textbook distance', (_n, metric) => {
    for (let trial = 0; trial < 50; trial++) {
      const a = vector();
      const b = vector();
      const want = referenceDistance(a, b, metric);
      expect(keyToDistance(familyKey(a, b, metric), metric)).toBeCloseTo(want, 12);
      const s = 2 ** (1 + Math.floor(random() * 4));
      const scaled = referenceDistance(a.map((v) => v * s), b.map((v) => v * s), metric);
      expect(scaled).toBeCloseTo(want * s ** metricSpec(metric).degree, 9);
    }
  });

  it('every metric has an entry, named as itself; only cosine cannot be bounded by a box', () => {
    expect(Object.keys(METRIC_TABLE).sort()).toEqual([...METRICS].sort());
    for (const name of METRICS) expect(METRIC_TABLE[name].name).toBe(name);
    expect(METRICS.filter((m) => !METRIC_TABLE[m].boxBound)).toEqual(['cosine']);
  });

  it('labels and parameter checks', () => {
    expect(metricLabel({ name: 'minkowski', p: 3 })).toBe('minkowski p=3');
    expect(metricLabel({ name: 'euclidean' })).toBe('euclidean');
    expect(metricLabel({ name: 'some-future-metric' })).toBe('some-future-metric');
    expect(() => checkMetric({ name: 'minkowski', p: 0.5 })).toThrow(/minkowski needs p >= 1/u);
    expect(() => checkMetric({ name: 'minkowski' })).toThrow(FlowknnError);
    expect(() => checkMetric({ name: 'hamming' as never })).toThrow(/unknown metric "hamming"/u);
  });
});
