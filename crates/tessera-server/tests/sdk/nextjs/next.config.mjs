// The test runs `next dev` with its output in a directory of its own
// (TESSERA_NEXT_DIST_DIR: inside this folder, as Next requires; git-ignored) and removes it
// afterwards, so the tree stays clean.
const sdkDir = new URL("..", import.meta.url).pathname; // node_modules is in tests/sdk

export default {
  distDir: process.env.TESSERA_NEXT_DIST_DIR || ".next",
  turbopack: { root: sdkDir },
  outputFileTracingRoot: sdkDir,
  // `next dev` would otherwise write an AGENTS.md here.
  agentRules: false,
  experimental: { agentUpgrade: false, agentFeedback: false },
};
