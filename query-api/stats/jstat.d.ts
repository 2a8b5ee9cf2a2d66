/**
 * The few jStat distribution functions the statistics engine uses. jstat ships no
 * types; this declares only what we call, so a typo is a compile error.
 */
declare module 'jstat' {
  interface NormalDistribution {
    cdf(x: number, mean: number, standardDeviation: number): number;
    pdf(x: number, mean: number, standardDeviation: number): number;
    inv(probability: number, mean: number, standardDeviation: number): number;
  }
  interface StudentTDistribution {
    cdf(x: number, degreesOfFreedom: number): number;
    inv(probability: number, degreesOfFreedom: number): number;
  }
  interface ChiSquareDistribution {
    cdf(x: number, degreesOfFreedom: number): number;
  }
  interface JStat {
    normal: NormalDistribution;
    studentt: StudentTDistribution;
    chisquare: ChiSquareDistribution;
  }
  const jStat: JStat;
  export default jStat;
}
