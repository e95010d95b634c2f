import FlintPluginAPI
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing
import Webhook

@Suite("Webhook authentication: Bearer, Basic with the token as user name, HMAC signature")
struct WebhookAuthTests {
    static let configuration = WebhookConfiguration(tokens: ["tok-1", "tok-2"], hmacSecret: "s3cret")
    static let signatureName = HTTPField.Name(WebhookSignature.headerName)!

    static func basic(_ userAndPassword: String) -> HTTPFields {
        [.authorization: "Basic " + Data(userAndPassword.utf8).base64EncodedString()]
    }

    static func signed(_ body: String, secret: String = "s3cret", at time: Date = Date()) -> HTTPFields {
        [signatureName: WebhookSignature.header(body: Array(body.utf8), secret: secret, at: time)]
    }

    static func expectUnauthorized(
        _ response: TestResponse, containing text: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(response.status == .unauthorized, sourceLocation: sourceLocation)
        #expect(
            response.headers[values: .wwwAuthenticate] == [#"Bearer realm="flint""#, #"Basic realm="flint""#],
            sourceLocation: sourceLocation)
        #expect(response.errorMessage?.contains(text) == true, "\(response.text)", sourceLocation: sourceLocation)
    }

    @Test("no credentials is 401 with a challenge and how to send one")
    func noCredentials() async throws {
        try await withWebhookServer(Self.configuration) { client, sink in
            for path in ["/v1/events", "/v1/track", "/v1/identify", "/v1/batch"] {
                let response = try await client.post(path, trackJSON())
                Self.expectUnauthorized(response, containing: "missing credentials")
            }
            #expect(await sink.submissions == 0)
            try await client.expectStillServes(headers: [.authorization: "Bearer tok-1"])
        }
    }

    @Test("a wrong Bearer token is 401 and the token is not echoed")
    func wrongToken() async throws {
        try await withWebhookServer(Self.configuration) { client, sink in
            let response = try await client.post("/v1/events", trackJSON(), headers: [.authorization: "Bearer tok-3-guess"])
            Self.expectUnauthorized(response, containing: "the token is not valid")
            #expect(!response.text.contains("tok-3-guess"))
            let empty = try await client.post("/v1/events", trackJSON(), headers: [.authorization: "Bearer"])
            Self.expectUnauthorized(empty, containing: "needs a token")
            let digest = try await client.post("/v1/events", trackJSON(), headers: [.authorization: "Digest tok-1"])
            Self.expectUnauthorized(digest, containing: "unsupported Authorization scheme")
            #expect(await sink.submissions == 0)
            try await client.expectStillServes(headers: [.authorization: "Bearer tok-1"])
        }
    }

    @Test("a wrong Basic user name is 401; the password never counts")
    func wrongBasic() async throws {
        try await withWebhookServer(Self.configuration) { client, sink in
            let wrongUser = try await client.post("/v1/track", trackJSON(), headers: Self.basic("nobody:tok-1"))
            Self.expectUnauthorized(wrongUser, containing: "the token is not valid")
            let noUser = try await client.post("/v1/track", trackJSON(), headers: Self.basic(":tok-1"))
            Self.expectUnauthorized(noUser, containing: "token as user name")
            let notBase64 = try await client.post("/v1/track", trackJSON(), headers: [.authorization: "Basic %%%"])
            Self.expectUnauthorized(notBase64, containing: "base64")
            #expect(await sink.submissions == 0)
            try await client.expectStillServes(headers: Self.basic("tok-2:"))
        }
    }

    @Test("good Bearer and Basic credentials are accepted, with any configured token")
    func goodTokens() async throws {
        try await withWebhookServer(Self.configuration) { client, sink in
            let bearer = try await client.post("/v1/events", trackJSON("a-1"), headers: [.authorization: "bearer  tok-2 "])
            #expect(bearer.status == .accepted)
            // What Segment's SDKs send: the write key as user name, an empty password.
            let segment = try await client.post("/v1/track", trackJSON("a-2"), headers: Self.basic("tok-1:"))
            #expect(segment.status == .ok)
            let anyPassword = try await client.post("/v1/identify", #"{"userId":"u","messageId":"a-3"}"#, headers: Self.basic("tok-2:whatever"))
            #expect(anyPassword.status == .ok)
            let noColon = try await client.post("/v1/events", trackJSON("a-4"), headers: Self.basic("tok-1"))
            #expect(noColon.status == .accepted)
            #expect(await sink.committedIds == ["a-1", "a-2", "a-3", "a-4"])
        }
    }

    @Test("a good HMAC signature is accepted, also within the tolerance")
    func goodSignature() async throws {
        try await withWebhookServer(Self.configuration) { client, sink in
            let body = trackJSON("h-1")
            let response = try await client.post("/v1/events", body, headers: Self.signed(body))
            #expect(response.status == .accepted)
            let ndjson = trackJSON("h-2") + "\n" + trackJSON("h-3") + "\n"
            let older = try await client.post(
                "/v1/events", ndjson, contentType: "application/x-ndjson", headers: Self.signed(ndjson, at: Date() - 200))
            #expect(older.status == .accepted)
            #expect(await sink.committedIds == ["h-1", "h-2", "h-3"])
        }
    }

    @Test("a signature by another secret, or over another body, is 401")
    func badSignature() async throws {
        try await withWebhookServer(Self.configuration) { client, sink in
            let body = trackJSON()
            let otherSecret = try await client.post("/v1/events", body, headers: Self.signed(body, secret: "guess"))
            Self.expectUnauthorized(otherSecret, containing: "does not match the body")
            let otherBody = try await client.post("/v1/events", body + " ", headers: Self.signed(body))
            Self.expectUnauthorized(otherBody, containing: "does not match the body")
            let malformed = try await client.post("/v1/events", body, headers: [Self.signatureName: "sha256=abc"])
            Self.expectUnauthorized(malformed, containing: "must look like t=<unix seconds>,v1=")
            let notHex = try await client.post("/v1/events", body, headers: [Self.signatureName: "t=1,v1=zz"])
            Self.expectUnauthorized(notHex, containing: "64 hex digits")
            #expect(await sink.submissions == 0)
            try await client.expectStillServes(headers: [.authorization: "Bearer tok-1"])
        }
    }

    @Test("a stale or future signature is 401 saying which, and by how much")
    func staleSignature() async throws {
        try await withWebhookServer(Self.configuration) { client, sink in
            let body = trackJSON()
            let stale = try await client.post("/v1/events", body, headers: Self.signed(body, at: Date() - 400))
            Self.expectUnauthorized(stale, containing: "X-Flint-Signature is stale")
            #expect(stale.errorMessage?.contains("more than the 300 s allowed") == true)
            let future = try await client.post("/v1/events", body, headers: Self.signed(body, at: Date() + 400))
            Self.expectUnauthorized(future, containing: "X-Flint-Signature is from the future")
            #expect(await sink.submissions == 0)
            let fresh = try await client.post("/v1/events", body, headers: Self.signed(body))
            #expect(fresh.status == .accepted)
        }
    }

    @Test("one valid credential is enough when another one is wrong")
    func eitherCredential() async throws {
        try await withWebhookServer(Self.configuration) { client, _ in
            let body = trackJSON()
            var headers = Self.signed(body)
            headers[.authorization] = "Bearer wrong"
            let response = try await client.post("/v1/events", body, headers: headers)
            #expect(response.status == .accepted)
        }
    }

    @Test("a signature sent where no secret is configured is 401 pointing at tokens")
    func signatureWithoutSecret() async throws {
        try await withWebhookServer(WebhookConfiguration(tokens: ["tok-1"])) { client, _ in
            let body = trackJSON()
            let response = try await client.post("/v1/events", body, headers: Self.signed(body))
            Self.expectUnauthorized(response, containing: "signatures are not configured")
            try await client.expectStillServes(headers: [.authorization: "Bearer tok-1"])
        }
    }

    @Test("without configured credentials every request is let in")
    func openListener() async throws {
        #expect(!WebhookConfiguration().requiresAuth)
        #expect(!WebhookConfiguration(tokens: [""], hmacSecret: "").requiresAuth)
        #expect(WebhookConfiguration(tokens: ["t"]).requiresAuth)
        #expect(WebhookConfiguration(hmacSecret: "s").requiresAuth)
        try await withWebhookServer(WebhookConfiguration(tokens: [""])) { client, _ in
            try await client.expectStillServes()
            try await client.expectStillServes(headers: [.authorization: "Bearer anything"])
        }
    }

    @Test("the configuration never prints its secrets")
    func redacted() {
        let text = "\(Self.configuration) \(String(reflecting: Self.configuration))"
        #expect(!text.contains("tok-1") && !text.contains("s3cret"))
        #expect(text.contains("tokens: 2"))
    }
}

@Suite("X-Flint-Signature format")
struct WebhookSignatureTests {
    @Test("the header matches an independent HMAC-SHA256 (openssl dgst -sha256 -hmac)")
    func knownVector() throws {
        // printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec
        let header = WebhookSignature.header(body: Array(#"{"a":1}"#.utf8), secret: "whsec", at: Date(timeIntervalSince1970: 1_700_000_000.9))
        #expect(header == "t=1700000000,v1=8ad37ba156048ae0e0a5533c75cdf26fee88b07f93cb57ee4c80adb053012032")
        let parsed = try WebhookSignature.parse(header).get()
        #expect(parsed.timestamp == 1_700_000_000)
        #expect(parsed.matches(body: Array(#"{"a":1}"#.utf8), secret: "whsec"))
        #expect(!parsed.matches(body: Array(#"{"a":2}"#.utf8), secret: "whsec"))
    }

    @Test("several v1 entries (secret rotation) match if any does; unknown schemes are ignored")
    func rotation() throws {
        let good = WebhookSignature.header(body: Array("x".utf8), secret: "new", at: Date(timeIntervalSince1970: 10))
        let old = WebhookSignature.header(body: Array("x".utf8), secret: "old", at: Date(timeIntervalSince1970: 10))
        let oldMAC = try #require(old.split(separator: "v1=").last)
        let parsed = try WebhookSignature.parse(good + ", v1=\(oldMAC), v0=legacy").get()
        #expect(parsed.signatures.count == 2)
        #expect(parsed.matches(body: Array("x".utf8), secret: "old"))
        #expect(parsed.matches(body: Array("x".utf8), secret: "new"))
        #expect(!parsed.matches(body: Array("x".utf8), secret: "other"))
    }
}
