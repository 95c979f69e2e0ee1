// OpenTelemetry's GCP resource detector, unchanged: which platform it reports, and what of
// the metadata server it read. Prints one JSON object of the resource's attributes.
const { detectResources } = require('@opentelemetry/resources');
const { gcpDetector } = require('@opentelemetry/resource-detector-gcp');

(async () => {
  const resource = detectResources({ detectors: [gcpDetector] });
  await resource.waitForAsyncAttributes?.();
  console.log(JSON.stringify(resource.attributes));
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
