// Validates Kubernetes objects offline, as `kubectl apply --validate=strict` would against a cluster:
//   kubectl kustomize deploy/kubernetes/overlays/cpu | node tests/k8s-validate/validate.mjs > objects.json
// Reads YAML documents on stdin and checks each against its OpenAPI schema (kubernetes-models for the built-in
// kinds, @kubernetes-models/prometheus-operator for PodMonitor): types, required fields, formats and enums, and
// fields the schema does not have (a typo such as `livenessProbes`), which the schema itself lets through.
// Prints the objects as one JSON array on stdout, for the agreement checks of KubernetesManifestTests; one line
// per problem on stderr; exits 1 if there is any.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

// The kinds the manifests use, and their schemas' compiled validators.
const schemas = {
  "v1/ConfigMap": "kubernetes-models/_schemas/IoK8sApiCoreV1ConfigMap.js",
  "v1/Service": "kubernetes-models/_schemas/IoK8sApiCoreV1Service.js",
  "v1/PersistentVolumeClaim": "kubernetes-models/_schemas/IoK8sApiCoreV1PersistentVolumeClaim.js",
  "apps/v1/StatefulSet": "kubernetes-models/_schemas/IoK8sApiAppsV1StatefulSet.js",
  "batch/v1/Job": "kubernetes-models/_schemas/IoK8sApiBatchV1Job.js",
  "policy/v1/PodDisruptionBudget": "kubernetes-models/_schemas/IoK8sApiPolicyV1PodDisruptionBudget.js",
  "monitoring.coreos.com/v1/PodMonitor":
    "@kubernetes-models/prometheus-operator/_schemas/ComGithubPrometheusOperatorPrometheusOperatorPkgApisMonitoringV1PodMonitor.js",
};

async function validatorFor(apiVersion, kind) {
  const file = schemas[`${apiVersion}/${kind}`];
  if (!file) return null;
  // By file, past the packages' export maps (the operator package does not export its _schemas).
  const module = await import(new URL(`node_modules/${file}`, import.meta.url));
  return module.validate;
}

// Watches which keys the validator reads. A schema's validator reads each property it defines by name, and walks
// the keys of a map (labels, data) with for..in; a key of a defined object that it never reads is not in the schema.
function watched(value, path, reads) {
  if (value === null || typeof value !== "object") return value;
  const entry = { path, value, keys: new Set(), enumerated: false };
  reads.push(entry);
  return new Proxy(value, {
    get(target, key, receiver) {
      if (typeof key === "string") entry.keys.add(key);
      const child = Reflect.get(target, key, receiver);
      return typeof key === "string" && Object.hasOwn(target, key) ? watched(child, `${path}.${key}`, reads) : child;
    },
    has(target, key) {
      if (typeof key === "string") entry.keys.add(key);
      return Reflect.has(target, key);
    },
    ownKeys(target) {
      entry.enumerated = true;
      return Reflect.ownKeys(target);
    },
  });
}

function describe(error) {
  const where = error.instancePath ? error.instancePath.replaceAll("/", ".") : "";
  const detail = error.params ? Object.entries(error.params).map(([k, v]) => `${k} ${JSON.stringify(v)}`).join(", ") : "";
  return `${where.slice(1) || "(object)"}: ${error.keyword}${detail ? ` (${detail})` : ""}`;
}

const input = readFileSync(0, "utf8");
const objects = [];
const problems = [];
for (const document of parseAllDocuments(input)) {
  if (document.errors.length > 0) {
    problems.push(`YAML: ${document.errors[0].message.split("\n")[0]}`);
    continue;
  }

  const object = document.toJS();
  if (object === null || object === undefined) continue;
  const name = `${object.kind ?? "?"}/${object.metadata?.name ?? "?"}`;
  const validate = await validatorFor(object.apiVersion, object.kind);
  if (!validate) {
    problems.push(`${name}: no schema for apiVersion ${object.apiVersion}, kind ${object.kind} (add it to validate.mjs)`);
    continue;
  }

  const reads = [];
  if (!validate(watched(object, "", reads))) {
    for (const error of validate.errors ?? []) problems.push(`${name}: ${describe(error)}`);
    continue;
  }

  for (const { path, value, keys, enumerated } of reads) {
    if (Array.isArray(value) || enumerated || keys.size === 0) continue; // a list, a map, or a free-form object
    for (const key of Object.keys(value)) {
      if (!keys.has(key)) problems.push(`${name}: ${path ? `${path.slice(1)}.` : ""}${key}: unknown field (not in the ${object.kind} schema)`);
    }
  }

  objects.push(object);
}

for (const problem of problems) console.error(problem);
process.stdout.write(JSON.stringify(objects));
process.exitCode = problems.length > 0 ? 1 : 0;
