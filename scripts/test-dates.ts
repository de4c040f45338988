import { spawnSync } from 'node:child_process';

/**
 * `npm run test:dates`: the whole test suite (vitest) run at other dates and in another time zone, to
 * prove that no test depends on the day or the hour it runs. libfaketime (Debian's `faketime`) moves
 * the clock of Node and of every process it starts, the local AWS (moto) among them; each run starts
 * at the given time and the clock goes on from there, so a run crosses the boundary it starts near.
 *
 * Usage: npm run test:dates [-- "<YYYY-MM-DD hh:mm:ss>" …]   (default: the dates below)
 * The one legitimate dependence on the date is cfn-lint's Lambda runtime deprecation check (E2533):
 * past nodejs24.x's deprecation (2028-04-30) the template test fails, as it should.
 */
interface DateRun {
  when?: string;
  tz?: string;
  why: string;
}

const defaults: DateRun[] = [
  { when: '2027-12-31 23:58:00', why: 'a year boundary' },
  { when: '2028-02-29 23:59:30', why: 'a leap day near midnight' },
  { when: '2027-04-30 23:57:00', why: "a month's end" },
  { tz: 'Pacific/Kiritimati', why: 'UTC+14, today' },
];

const requested = process.argv.slice(2).map((when): DateRun => ({ when, why: 'requested' }));
const runs = requested.length ? requested : defaults;

const probe = spawnSync('faketime', ['2000-01-02 03:04:05', 'date', '-u', '+%Y'], { encoding: 'utf8' });
if (probe.error || probe.stdout.trim() !== '2000') {
  console.error('test:dates needs libfaketime: apt-get update && apt-get install -y faketime');
  process.exit(2);
}

const results: string[] = [];
let failed = 0;
for (const { when, tz, why } of runs) {
  const label = [when, tz && `TZ=${tz}`].filter(Boolean).join(' ');
  console.error(`\ntest:dates: ${label} (${why})`);
  const [command, ...args] = [...(when ? ['faketime', when] : []), 'npx', 'vitest', 'run'];
  const run = spawnSync(command!, args, {
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
    env: { ...process.env, ...(tz ? { TZ: tz } : {}) },
    maxBuffer: 256 * 1024 * 1024,
  });
  process.stdout.write(run.stdout ?? '');
  const summary = (run.stdout ?? '').match(/^tests: .*$/m)?.[0] ?? 'no summary (the run did not finish)';
  if (run.status !== 0) failed++;
  results.push(`${run.status === 0 ? 'ok  ' : 'FAIL'} ${label.padEnd(36)} ${summary}`);
}

console.log(`\ntest:dates\n${results.join('\n')}`);
process.exit(failed ? 1 : 0);
