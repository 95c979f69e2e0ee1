// Node's gcp-metadata against the emulator: what a Cloud client library reads at start.
const gcpMetadata = require('gcp-metadata');

(async () => {
  const out = {};
  out.isAvailable = await gcpMetadata.isAvailable();
  const instance = await gcpMetadata.instance({params: {recursive: 'true'}});
  out.recursiveId = instance.id.toString(); // json-bigint keeps a uint64 intact
  out.recursiveName = instance.name;
  out.listing = await gcpMetadata.instance(); // follows the 301 to instance/
  out.id = (await gcpMetadata.instance('id')).toString();
  out.projectId = await gcpMetadata.project('project-id');
  out.numericProjectId = (await gcpMetadata.project('numeric-project-id')).toString();
  out.zone = await gcpMetadata.instance('zone');
  out.role = await gcpMetadata.instance('attributes/role');
  out.env = await gcpMetadata.project('attributes/env');
  out.tags = await gcpMetadata.instance('tags');
  out.universe = await gcpMetadata.universe('universe-domain');
  process.stdout.write(JSON.stringify(out));
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
