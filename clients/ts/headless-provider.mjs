// The OAuth client provider the TS SDK's client uses in these scripts: dynamic client
// registration as a public client, and a headless authorize step that signs in as `user`
// on the mock zone (login_hint) and keeps the code from the redirect, for `finishAuth`.
// `check(authorizationUrl)` may refuse the authorize URL before it is followed.
export class HeadlessProvider {
  constructor(user, { clientName, check } = {}) {
    this.user = user;
    this.clientName = clientName;
    this.check = check;
    this.redirect = "http://127.0.0.1:1/callback";
    this.pendingCode = undefined;
  }
  get redirectUrl() { return this.redirect; }
  get clientMetadata() {
    return {
      client_name: this.clientName,
      redirect_uris: [this.redirect],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    };
  }
  clientInformation() { return this.info; }
  saveClientInformation(info) { this.info = info; }
  tokens() { return this.saved; }
  saveTokens(t) { this.saved = t; }
  saveCodeVerifier(v) { this.verifier = v; }
  codeVerifier() { return this.verifier; }
  async redirectToAuthorization(authorizationUrl) {
    this.check?.(authorizationUrl);
    authorizationUrl.searchParams.set("login_hint", this.user);
    const res = await fetch(authorizationUrl, { redirect: "manual" });
    const location = res.headers.get("location");
    if (!location) throw new Error(`authorize did not redirect (status ${res.status})`);
    const code = new URL(location).searchParams.get("code");
    if (!code) throw new Error(`authorize redirect carried no code (status ${res.status})`);
    this.pendingCode = code;
  }
}
