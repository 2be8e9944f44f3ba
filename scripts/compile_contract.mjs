// Recompile the contracts with solc-js and write the ABI and bytecode the Python package
// loads: contracts/CassetAnchor.sol -> casset_rights/anchoring/CassetAnchor.json and
// contracts/TestUSDC.sol (the embedded chain's EIP-3009 test dollar) ->
// casset_rights/agents/TestUSDC.json.
//
//   cd scripts && npm install && node compile_contract.mjs
//
// The compiler version is pinned in package.json and checked here, and the settings are
// fixed, so the same source always gives the same bytecode (the metadata hash included).
// Tests never compile: they load the committed JSON and check its source hash.
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import solc from "solc";

const PINNED = "0.8.28";
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const CONTRACTS = [
  ["CassetAnchor", "contracts/CassetAnchor.sol", "casset_rights/anchoring/CassetAnchor.json"],
  ["TestUSDC", "contracts/TestUSDC.sol", "casset_rights/agents/TestUSDC.json"],
];

const version = solc.version();
if (!version.startsWith(PINNED + "+")) {
  console.error(`solc ${version} is not the pinned ${PINNED}: run npm install in scripts/`);
  process.exit(1);
}

const settings = {
  // Cancun: Base has run it since the Ecotone upgrade (2024); py-evm runs it too.
  evmVersion: "cancun",
  optimizer: { enabled: true, runs: 200 },
  outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
};
for (const [contractName, sourcePath, outFile] of CONTRACTS) {
  const outPath = join(root, outFile);
  const source = readFileSync(join(root, sourcePath), "utf8");
  const input = { language: "Solidity", sources: { [sourcePath]: { content: source } }, settings };
  const output = JSON.parse(solc.compile(JSON.stringify(input)));
  const problems = (output.errors || []).filter((e) => e.severity === "error");
  for (const e of output.errors || []) console.error(e.formattedMessage);
  if (problems.length) process.exit(1);

  const contract = output.contracts[sourcePath][contractName];
  const artifact = {
    contractName,
    source: sourcePath,
    sourceSha256: createHash("sha256").update(source, "utf8").digest("hex"),
    compiler: `solc-js ${version}`,
    settings: { evmVersion: settings.evmVersion, optimizer: settings.optimizer },
    abi: contract.abi,
    bytecode: "0x" + contract.evm.bytecode.object,
    deployedBytecode: "0x" + contract.evm.deployedBytecode.object,
  };
  writeFileSync(outPath, JSON.stringify(artifact, null, 2) + "\n");
  console.log(`wrote ${outPath} (${(artifact.bytecode.length - 2) / 2} bytes of init code)`);
}
