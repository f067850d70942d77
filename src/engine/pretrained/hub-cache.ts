// The Hugging Face hub cache, laid out exactly as the Python `huggingface_hub` lays it out, so that files either
// tool fetched are reused by the other (docs/pretrained-hub.md):
//
//   <cache>/models--<owner>--<repo>/
//     blobs/<etag>                       the file's bytes, named by its etag (sha256 for LFS files, the git blob
//                                        sha1 otherwise); blobs/<etag>.incomplete while it downloads
//     snapshots/<commit>/<file>          a relative symlink to ../../blobs/<etag> (a copy where links fail)
//     refs/<revision>                    the commit hash the revision (branch, tag) last resolved to, no newline
//
// <cache> is $HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub.
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fsp, readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { writeFileAtomic } from '../../core/atomic';

export type Env = Record<string, string | undefined>;

/** A full commit hash, as `huggingface_hub`'s REGEX_COMMIT_HASH. */
export const COMMIT_HASH = /^[0-9a-f]{40}$/;

function expandHome(path: string): string {
  return path === '~' || path.startsWith('~/') || path.startsWith('~\\') ? join(homedir(), path.slice(1)) : path;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

/** `$HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`. */
export function hfHome(env: Env): string {
  const home = nonEmpty(env.HF_HOME);
  if (home) return expandHome(home);
  const xdg = nonEmpty(env.XDG_CACHE_HOME);
  return join(xdg ? expandHome(xdg) : join(homedir(), '.cache'), 'huggingface');
}

/** The hub cache folder: `$HF_HUB_CACHE` (or the older `$HUGGINGFACE_HUB_CACHE`), else `$HF_HOME/hub`. */
export function hubCacheDir(env: Env): string {
  const explicit = nonEmpty(env.HF_HUB_CACHE) ?? nonEmpty(env.HUGGINGFACE_HUB_CACHE);
  return explicit ? expandHome(explicit) : join(hfHome(env), 'hub');
}

/** huggingface_hub's truthy strings for boolean variables. */
export function envFlag(value: string | undefined): boolean {
  return value !== undefined && ['1', 'ON', 'YES', 'TRUE'].includes(value.trim().toUpperCase());
}

/** `HF_HUB_OFFLINE` (or the older `TRANSFORMERS_OFFLINE`) is set to a true value. */
export function isOffline(env: Env): boolean {
  return envFlag(nonEmpty(env.HF_HUB_OFFLINE) ?? env.TRANSFORMERS_OFFLINE);
}

/** Where the token file is: `$HF_TOKEN_PATH`, else `$HF_HOME/token`. */
export function tokenPath(env: Env): string {
  const explicit = nonEmpty(env.HF_TOKEN_PATH);
  return explicit ? expandHome(explicit) : join(hfHome(env), 'token');
}

/** The access token: `$HF_TOKEN`, else `$HUGGING_FACE_HUB_TOKEN`, else the token file (what `hf auth login` writes). */
export function resolveToken(env: Env): string | undefined {
  const fromEnv = nonEmpty(env.HF_TOKEN) ?? nonEmpty(env.HUGGING_FACE_HUB_TOKEN);
  if (fromEnv) return fromEnv.trim();
  try {
    const text = readFileSync(tokenPath(env), 'utf8').trim();
    return text === '' ? undefined : text;
  } catch {
    return undefined;
  }
}

/** The paths of one model repo in the cache. */
export class RepoCache {
  /** `<cache>/models--<owner>--<repo>` */
  readonly root: string;
  constructor(readonly cacheDir: string, readonly repoId: string) {
    this.root = join(cacheDir, ['models', ...repoId.split('/')].join('--'));
  }
  blob(etag: string): string { return join(this.root, 'blobs', etag); }
  incomplete(etag: string): string { return `${this.blob(etag)}.incomplete`; }
  snapshot(commit: string, file: string): string { return join(this.root, 'snapshots', commit, ...file.split('/')); }
  ref(revision: string): string { return join(this.root, 'refs', ...revision.split('/')); }

  /** The commit a revision resolves to in the cache: itself when it is a commit hash, else refs/<revision>. */
  commitFor(revision: string): string | undefined {
    if (COMMIT_HASH.test(revision)) return revision;
    try {
      const commit = readFileSync(this.ref(revision), 'utf8').trim();
      return commit === '' ? undefined : commit;
    } catch {
      return undefined;
    }
  }

  /** The cached file of `revision`, if refs and snapshot have it (a dangling link counts as absent). */
  cachedFile(revision: string, file: string): string | undefined {
    const commit = this.commitFor(revision);
    if (commit === undefined) return undefined;
    const path = this.snapshot(commit, file);
    return existsSync(path) ? path : undefined;
  }

  /** Records `refs/<revision>` = commit (atomically, without a newline, as huggingface_hub writes it). */
  async writeRef(revision: string, commit: string): Promise<void> {
    if (revision === commit) return;
    const path = this.ref(revision);
    try {
      if ((await fsp.readFile(path, 'utf8')) === commit) return;
    } catch { /* absent */ }
    await fsp.mkdir(dirname(path), { recursive: true });
    await writeFileAtomic(path, commit);
  }

  /**
   * Puts `snapshots/<commit>/<file>` in place, pointing at `blobs/<etag>`: a relative symlink, or a copy where the file
   * system refuses links (Windows without developer mode, FAT). Replaces what was there atomically (temp + rename).
   */
  async linkSnapshot(commit: string, file: string, etag: string): Promise<'symlink' | 'copy'> {
    const pointer = this.snapshot(commit, file);
    const blob = this.blob(etag);
    await fsp.mkdir(dirname(pointer), { recursive: true });
    const temp = join(dirname(pointer), `.${randomBytes(6).toString('hex')}.tmp`);
    let how: 'symlink' | 'copy' = 'symlink';
    try {
      try {
        await fsp.symlink(relative(dirname(pointer), blob), temp);
      } catch {
        how = 'copy';
        await fsp.copyFile(blob, temp);
      }
      await fsp.rename(temp, pointer);
    } catch (err) {
      await fsp.rm(temp, { force: true });
      throw err;
    }
    return how;
  }
}

/** A model repo found in the hub cache (for "Check Environment" and `embedlab env`). */
export interface CachedRepo {
  repoId: string;
  path: string;
  /** Bytes of the finished blobs. */
  bytes: number;
  /** Bytes of unfinished downloads (blobs/*.incomplete), resumable. */
  incompleteBytes: number;
  /** refs/<revision> → commit */
  refs: Record<string, string>;
  /** Commits with a snapshot folder. */
  snapshots: string[];
}

function readRefs(dir: string, prefix: string, out: Record<string, string>): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) readRefs(path, `${prefix}${entry.name}/`, out);
    else if (entry.isFile()) out[`${prefix}${entry.name}`] = readFileSync(path, 'utf8').trim();
  }
}

/** The model repos in a hub cache folder (only `models--*`), with their sizes; an absent folder has none. */
export function scanHubCache(cacheDir: string): CachedRepo[] {
  let names: string[];
  try { names = readdirSync(cacheDir); } catch { return []; }
  const repos: CachedRepo[] = [];
  for (const name of names.sort()) {
    if (!name.startsWith('models--')) continue;
    const path = join(cacheDir, name);
    const repo: CachedRepo = { repoId: name.slice('models--'.length).split('--').join('/'), path, bytes: 0, incompleteBytes: 0, refs: {}, snapshots: [] };
    try {
      for (const blob of readdirSync(join(path, 'blobs'))) {
        const size = statSync(join(path, 'blobs', blob)).size;
        if (blob.endsWith('.incomplete')) repo.incompleteBytes += size; else repo.bytes += size;
      }
    } catch { /* no blobs */ }
    try { readRefs(join(path, 'refs'), '', repo.refs); } catch { /* no refs */ }
    try { repo.snapshots = readdirSync(join(path, 'snapshots')).sort(); } catch { /* no snapshots */ }
    repos.push(repo);
  }
  return repos;
}
