"""The smallest token consumer: google.auth.default() and one refresh. Prints the token."""

import google.auth
import google.auth.transport.requests

credentials, _ = google.auth.default()
credentials.refresh(google.auth.transport.requests.Request())
print(credentials.token)
