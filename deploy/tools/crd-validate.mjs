// Validates prometheus-operator objects (ServiceMonitor, PrometheusRule) in multi-document YAML
// against the JSON schemas compiled into @kubernetes-models/prometheus-operator (npm), which are
// generated from prometheus-operator's Go API types: types, required fields, enums, patterns.
// Unknown fields are checked by `deploycheck crd` (strict decoding into the same Go types).
//
//   node crd-validate.mjs rendered.yaml...     (run with NODE_PATH or from the tools folder)
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";
import { PrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule";

const models = { ServiceMonitor, PrometheusRule };
let failed = 0;
const counts = {};
for (const file of process.argv.slice(2)) {
  for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
    if (doc.errors.length) {
      console.error(`${file}: ${doc.errors[0].message}`);
      failed++;
      continue;
    }
    const obj = doc.toJS();
    if (!obj || !String(obj.apiVersion || "").startsWith("monitoring.coreos.com/")) continue;
    const Model = models[obj.kind];
    const where = `${file}: ${obj.kind}/${obj.metadata?.name}`;
    if (!Model) {
      console.error(`${where}: no validator for this kind`);
      failed++;
      continue;
    }
    try {
      new Model(obj).validate();
      counts[obj.kind] = (counts[obj.kind] || 0) + 1;
    } catch (err) {
      console.error(`${where}: ${err.message}`);
      failed++;
    }
  }
}
if (failed) process.exit(1);
console.log(`crd-schema: valid ${Object.entries(counts).map(([k, n]) => `${k}: ${n}`).join(", ") || "nothing to check"}`);
