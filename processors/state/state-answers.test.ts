import { describe, expect, it } from 'vitest';
import { ANSWER, StateAnswers } from './state-answers.js';
import type { StateOutcome } from './types.js';

const US = [['country', 'US']] as const;

describe('StateAnswers', () => {
  it('holds every kind of answer in columns and gives each back as the contract object it stands for', () => {
    const outcomes: StateOutcome[] = [
      { kind: 'applied', replay: false, segments: US, totalBefore: undefined, covariates: [], partnerTotals: [] },
      {
        kind: 'applied',
        replay: true,
        segments: [],
        totalBefore: -2_500_000,
        covariates: [['revenue', 7]],
        partnerTotals: [5, undefined],
      },
      { kind: 'duplicate' },
      { kind: 'committed' },
      { kind: 'refused', rule: 'user-total-limit' },
      { kind: 'applied', replay: false, segments: US, totalBefore: 0, covariates: [], partnerTotals: [] },
    ];
    const answers = StateAnswers.of(outcomes);
    expect(answers.length).toBe(6);
    expect([...answers.kinds]).toEqual([
      ANSWER.applied,
      ANSWER.replayed,
      ANSWER.duplicate,
      ANSWER.committed,
      ANSWER.refused,
      ANSWER.applied,
    ]);
    expect(answers.outcomes()).toEqual(outcomes);
    expect(answers.outcome(0)).toHaveProperty('segments', US); // the very array: users share them
  });

  it('keeps "no total yet" apart from a total of 0 (NaN in the column)', () => {
    const answers = new StateAnswers(2);
    answers.applied(0, false, US, undefined, [], []);
    answers.applied(1, false, US, 0, [], []);
    expect(Number.isNaN(answers.totalsBefore[0])).toBe(true);
    expect(answers.totalBefore(0)).toBeUndefined();
    expect(answers.totalBefore(1)).toBe(0);
  });

  it('counts applied and replayed answers only', () => {
    const answers = StateAnswers.of([
      { kind: 'applied', replay: false, segments: [], totalBefore: 1, covariates: [], partnerTotals: [] },
      { kind: 'applied', replay: true, segments: [], totalBefore: 1, covariates: [], partnerTotals: [] },
      { kind: 'duplicate' },
      { kind: 'committed' },
      { kind: 'refused', rule: 'user-total-limit' },
    ]);
    expect([0, 1, 2, 3, 4].map((index) => answers.counts(index))).toEqual([true, true, false, false, false]);
  });

  it('answers empty covariates and partner totals where none were given, and replaces partner totals in place', () => {
    const answers = new StateAnswers(2);
    answers.applied(0, true, US, 3, [], []);
    answers.applied(1, false, US, 3, [['m', 1]], [4]);
    expect(answers.covariates(0)).toEqual([]);
    expect(answers.partnerTotals(0)).toEqual([]);
    expect(answers.covariates(1)).toEqual([['m', 1]]);
    answers.setPartnerTotals(0, [9, undefined]);
    answers.setPartnerTotals(1, []);
    expect(answers.partnerTotals(0)).toEqual([9, undefined]);
    expect(answers.partnerTotals(1)).toEqual([]);
    expect(answers.outcome(1)).toMatchObject({ covariates: [['m', 1]], partnerTotals: [] });
  });

  it('refuses to read an answer that was never given, naming it (INTERNAL)', () => {
    const answers = new StateAnswers(3);
    answers.answer(0, ANSWER.duplicate);
    expect(answers.counts(1)).toBe(false);
    expect(() => answers.outcome(1)).toThrow(
      expect.objectContaining({ code: 'INTERNAL', message: 'state answer 1 of 3 was never given' }),
    );
    expect(() => answers.outcomes()).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
  });

  it('holds no answer when made for no request', () => {
    expect(new StateAnswers(0).outcomes()).toEqual([]);
    expect(StateAnswers.of([]).length).toBe(0);
  });
});
