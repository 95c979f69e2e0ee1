// Node google-auth-library finding the emulator and getting tokens from it.
// argv[2]: an ID token audience.
const {GoogleAuth} = require('google-auth-library');

(async () => {
  const audience = process.argv[2];
  const auth = new GoogleAuth({scopes: ['https://www.googleapis.com/auth/cloud-platform']});
  const accessToken = await auth.getAccessToken();
  const projectId = await auth.getProjectId();
  const idClient = await auth.getIdTokenClient(audience);
  const headers = await idClient.getRequestHeaders();
  const authorization = typeof headers.get === 'function'
    ? headers.get('authorization') : headers.Authorization || headers.authorization;
  process.stdout.write(JSON.stringify({
    accessToken,
    projectId,
    idToken: authorization.replace(/^Bearer /, ''),
  }));
})().catch((err) => {
  console.error(err && err.message ? err.message : err);
  process.exit(1);
});
