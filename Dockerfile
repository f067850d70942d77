# The embedlab CLI (Node 20 slim, production dependencies only). Build from the repository root after `npm run build`
# (dist/ must exist: the image does not carry the TypeScript tool chain):
#   npm ci && npm run build && docker build -t embedlab .
# Run:  docker run --rm -v "$PWD/data:/data" embedlab embed --model /data/model /data/images --out /data/table.parquet
# Used by deploy/kubernetes/embed-job.yaml (an Indexed Job running `embedlab embed --shard auto`).
FROM node:20-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json .npmrc* ./
# --ignore-scripts: the root "prepare" script builds with esbuild (a dev dependency) and dist/ comes built; sharp and
# LanceDB ship prebuilt binaries as packages, onnxruntime-node carries its CPU runtime (its script fetches only CUDA).
# Optional dependencies (onnxruntime-node, @lancedb/lancedb) are installed.
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY bin ./bin
COPY dist ./dist
COPY schemas ./schemas
USER node
ENTRYPOINT ["node", "/app/bin/embedlab.js"]
