import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalAwsExitedError, startLocalAws } from '../../scripts/local-aws/server.js';
import { projectRoot, venvBin } from '../../scripts/local-aws/venv.js';

/**
 * The patches of scripts/local-aws/moto_patches/ are written against the moto that
 * requirements-dev.txt pins: the server refuses any other, before it patches anything.
 */
const pinned = /^moto\[server\]==(\S+)$/m.exec(readFileSync(join(projectRoot, 'requirements-dev.txt'), 'utf8'))![1]!;
const scratch: string[] = [];
const scratchDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'local-aws-version-'));
  scratch.push(dir);
  return dir;
};
afterEach(() => {
  for (const dir of scratch.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Runs check_moto_version of server.py with the given installed version and requirements text. */
function check(installed: string | null, requirements: string) {
  const file = join(scratchDir(), 'requirements-dev.txt');
  writeFileSync(file, requirements);
  const run = spawnSync(
    venvBin('python'),
    [
      '-c',
      'import sys, server; server.check_moto_version(None if sys.argv[1] == "-" else sys.argv[1], sys.argv[2])',
      installed ?? '-',
      file,
    ],
    { cwd: join(projectRoot, 'scripts/local-aws'), encoding: 'utf8' },
  );
  return { status: run.status, stderr: run.stderr.trim() };
}

describe('the local AWS checks that moto is the pinned version', () => {
  it('accepts the pinned version, read from the requirements file', () => {
    expect(check('5.2.5', 'moto[server]==5.2.5\nawscrt==0.38.0\n')).toEqual({ status: 0, stderr: '' });
    expect(check('6.0.1', 'cfn-lint==1.58.0\nmoto[server] == 6.0.1  # pinned\n')).toEqual({ status: 0, stderr: '' });
  });

  it('refuses another version, naming both and the fix', () => {
    const { status, stderr } = check('5.2.4', 'moto[server]==5.2.5\n');
    expect(status).toBe(1);
    expect(stderr).toBe(
      'local-aws: moto 5.2.4 is installed, but requirements-dev.txt pins moto 5.2.5, the version the patches in' +
        ' scripts/local-aws/moto_patches/ are written against. Recreate the venv: delete .venv (rm -rf .venv) and run' +
        ' the tests again (they reinstall it from requirements-dev.txt).',
    );
  });

  it('refuses a missing moto, and a requirements file that pins none', () => {
    expect(check(null, 'moto[server]==5.2.5\n')).toMatchObject({
      status: 1,
      stderr: expect.stringContaining('moto is not installed, but requirements-dev.txt pins moto 5.2.5'),
    });
    expect(check('5.2.5', 'moto[server]>=5.2\n')).toMatchObject({ status: 1, stderr: expect.stringMatching(/pins no moto version/) });
  });

  it("startLocalAws fails with the server's message when another moto is installed", async () => {
    // Another moto distribution ahead of the venv's on the path: the one the interpreter would import.
    const site = scratchDir();
    mkdirSync(join(site, 'moto-5.1.0.dist-info'));
    writeFileSync(join(site, 'moto-5.1.0.dist-info', 'METADATA'), 'Metadata-Version: 2.1\nName: moto\nVersion: 5.1.0\n');
    const before = process.env.PYTHONPATH;
    process.env.PYTHONPATH = site;
    try {
      const started = startLocalAws();
      void started.then(
        (aws) => aws.stop(),
        () => undefined,
      ); // should it start after all, stop it
      await expect(started).rejects.toBeInstanceOf(LocalAwsExitedError);
      await expect(started).rejects.toThrow(
        `exited with status 1 before it answered:\nlocal-aws: moto 5.1.0 is installed, but requirements-dev.txt pins moto ${pinned},`,
      );
    } finally {
      if (before === undefined) delete process.env.PYTHONPATH;
      else process.env.PYTHONPATH = before;
    }
  });
});
