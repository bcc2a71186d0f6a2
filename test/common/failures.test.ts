import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { fail, Failure, FAILURE_TYPES, isFailure } from '../../common/failures';
import { REPO } from '../helpers/paths';

/** Every .ts file under the project's source folders. */
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('the failure catalogue', () => {
  it('names each type once, under its own name', () => {
    expect(new Set(FAILURE_TYPES).size).toBe(FAILURE_TYPES.length);
    for (const [key, value] of Object.entries(Failure)) expect(value).toBe(key);
  });

  it('holds every failure type the source raises inline today', () => {
    const raised = new Set<string>();
    for (const dir of ['activities', 'workflows', 'api', 'common', 'workers']) {
      for (const file of sources(path.join(REPO, dir))) {
        const text = readFileSync(file, 'utf8');
        // ApplicationFailure.retryable(msg, 'Type') / nonRetryable(msg, 'Type'), over several lines too.
        for (const m of text.matchAll(/ApplicationFailure\.(?:non)?[rR]etryable\(([\s\S]*?)\);?\n/g)) {
          const type = /,\s*'([A-Za-z]+)',?\s*\)?$/.exec(m[1].trim());
          if (type) raised.add(type[1]);
        }
        // Matched by string today, e.g. (e as { type?: string }).type === 'DomainNotRunning' in consolidate.ts.
        for (const m of text.matchAll(/as \{ type\?: string \}\)\.type === '([A-Za-z]+)'/g)) raised.add(m[1]);
        // Raised, matched or listed from the catalogue: fail.nonRetryable(Failure.X, …), isFailure(err, Failure.X).
        if (!file.endsWith(path.join('common', 'failures.ts'))) for (const m of text.matchAll(/\bFailure\.([A-Za-z]+)/g)) raised.add(m[1]);
      }
    }
    expect(raised.size).toBeGreaterThan(20);
    expect([...raised]).toEqual(expect.arrayContaining(['MountPointBusy', 'DomainNotRunning', 'VmBusy', 'CorruptBackup']));
    expect([...raised].filter((t) => !(FAILURE_TYPES as string[]).includes(t))).toEqual([]);
  });

  it('raises failures of the given type, retryable or not, and finds them in a chain of causes', () => {
    const f = fail.nonRetryable(Failure.CorruptBackup, 'backup file x is missing');
    expect(f).toBeInstanceOf(ApplicationFailure);
    expect(f).toMatchObject({ type: 'CorruptBackup', message: 'backup file x is missing', nonRetryable: true });
    expect(fail.retryable(Failure.VmBusy, 'busy')).toMatchObject({ type: 'VmBusy', nonRetryable: false });

    const wrapped = new Error('activity pullDisk failed', { cause: fail.nonRetryable(Failure.DomainNotRunning, 'stopped') });
    expect(isFailure(wrapped, Failure.DomainNotRunning)).toBe(true);
    expect(isFailure(wrapped, Failure.CorruptBackup)).toBe(false);
    expect(isFailure('DomainNotRunning', Failure.DomainNotRunning)).toBe(false);
  });
});
