import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../local-aws/venv.js';

/**
 * The one way the suite builds a tool into the project-local .tools/<name>-<version>: unless its
 * binary is there, the build command runs in the background (its output to build.log in that
 * folder, so that it never waits on a pipe) while the caller goes on with other set-up; `after`
 * tidies up once it succeeded. Nothing is installed outside the project.
 */
export function buildTool(options: {
  label: string;
  root: string;
  bin: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  after?: () => void;
  log?: (line: string) => void;
}): Promise<string> {
  const { label, root, bin, command, args, env, after, log = (l) => console.error(l) } = options;
  if (existsSync(bin)) return Promise.resolve(bin);
  log(`tools: building ${label} into ${root.slice(projectRoot.length + 1)} (first run only)`);
  mkdirSync(root, { recursive: true });
  const buildLog = join(root, 'build.log');
  const output = openSync(buildLog, 'w');
  const build = spawn(command, args, { stdio: ['ignore', output, output], ...(env && { env }) });
  return new Promise((resolve, reject) => {
    build.on('error', reject);
    build.on('close', (code) => {
      closeSync(output);
      if (code === 0 && existsSync(bin)) {
        after?.();
        resolve(bin);
      } else
        reject(new Error(`tools: ${command} ${args[0]} ${label} failed (exit ${code}):\n${readFileSync(buildLog, 'utf8').slice(-4000)}`));
    });
  });
}
