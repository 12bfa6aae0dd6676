import CKSWire
import Foundation

/// The credentials of a config-file profile that holds no keys itself: `credential_process` (run, as the AWS
/// tools do), `role_arn` with `source_profile` (the source chain is followed to its keys), and what the client
/// cannot resolve yet (`sso_session`/`sso_start_url`, `web_identity_token_file`, `credential_source`, a role on
/// AWS itself), said in words that name the way out.
///
/// A role on a cks core: the core has no STS; a principal there is named by its own ARN (a role ARN in the
/// principals file), so the source profile's keys are what identifies the role, and they are used as they are.
/// On an AWS endpoint (`*.amazonaws.com`) that would sign as the wrong identity, so the profile is refused.
enum ProfileCredentials {
    enum Outcome {
        case resolved(AWSCredentials, source: String)
        case unsupported(String)
        case none
    }

    static func resolve(profile: String, section: SharedConfigFile.Section, endpoint: ClientConfiguration.Endpoint,
                        config: SharedConfigFile, credentialsFile: SharedConfigFile,
                        configName: (String) -> String) -> Outcome {
        if let session = section["sso_session"] ?? section["sso_start_url"] {
            return .unsupported("profile \(profile) signs in through IAM Identity Center (\(session)); cks cannot read "
                + "SSO tokens yet. Export keys with `aws configure export-credentials --profile \(profile) --format env` "
                + "and run cks with them, or use a profile with keys")
        }
        if section["web_identity_token_file"] != nil {
            return .unsupported("profile \(profile) assumes a role with a web identity token; cks cannot call STS yet")
        }
        if let command = section["credential_process"] {
            switch runProcess(command) {
            case .success(let c): return .resolved(c, source: "\(configName(profile)) credential_process")
            case .failure(let why): return .unsupported("profile \(profile): credential_process failed: \(why)")
            }
        }
        guard let role = section["role_arn"] else { return .none }
        if let credentialSource = section["credential_source"] {
            return .unsupported("profile \(profile) assumes \(role) from credential_source \(credentialSource); "
                + "cks cannot call STS yet")
        }
        guard let source = section["source_profile"], !source.isEmpty else {
            return .unsupported("profile \(profile) names role_arn \(role) without source_profile")
        }
        let found: (AWSCredentials, String)
        switch sourceCredentials(source, config: config, credentialsFile: credentialsFile, configName: configName,
                                 visited: [profile]) {
        case .success(let c): found = c
        case .failure(let why): return .unsupported("profile \(profile): \(why)")
        }
        if case .remote(let url) = endpoint, let host = url.host?.lowercased(), host.hasSuffix(".amazonaws.com") {
            return .unsupported("profile \(profile) assumes \(role) through STS AssumeRole, which cks does not call "
                + "yet (the keys of source_profile \(found.1) were found); export the role's keys with "
                + "`aws configure export-credentials --profile \(profile) --format env`")
        }
        return .resolved(found.0, source: "source_profile \(source) of \(configName(profile)) (role_arn not assumed: "
            + "a cks core has no STS; it knows the role by these keys)")
    }

    struct Failure: Error { var message: String }

    /// The keys at the end of a `source_profile` chain: the credentials file, the config file, a credential_process,
    /// or the source's own source. A chain that loops is refused.
    static func sourceCredentials(_ name: String, config: SharedConfigFile, credentialsFile: SharedConfigFile,
                                  configName: (String) -> String,
                                  visited: [String]) -> Result<(AWSCredentials, String), Failure> {
        if visited.contains(name) {
            return .failure(Failure(message: "source_profile loops: " + (visited + [name]).joined(separator: " → ")))
        }
        let section = config.configProfile(name)
        if let c = ClientConfigurationResolver.credentials(in: credentialsFile.credentialsProfile(name))
            ?? ClientConfigurationResolver.credentials(in: section) {
            return .success((c, name))
        }
        guard let section else {
            return .failure(Failure(message: "source_profile \(name) does not exist"))
        }
        if let command = section["credential_process"] {
            return runProcess(command).map { ($0, name) }
        }
        if let next = section["source_profile"], !next.isEmpty {
            return sourceCredentials(next, config: config, credentialsFile: credentialsFile, configName: configName,
                                     visited: visited + [name])
        }
        return .failure(Failure(message: "source_profile \(name) has no keys"))
    }

    /// Runs a `credential_process` command through `/bin/sh -c` and reads its JSON
    /// (`{"Version": 1, "AccessKeyId", "SecretAccessKey", "SessionToken"?}`), as the AWS tools do.
    static func runProcess(_ command: String) -> Result<AWSCredentials, Failure> {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return .failure(Failure(message: "cannot run it: \(error)")) }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            return .failure(Failure(message: "it exited with status \(process.terminationStatus)"))
        }
        struct Answer: Decodable {
            var Version: Int?
            var AccessKeyId: String?
            var SecretAccessKey: String?
            var SessionToken: String?
        }
        guard let answer = try? JSONDecoder().decode(Answer.self, from: data) else {
            return .failure(Failure(message: "its output is not the credential_process JSON"))
        }
        guard answer.Version == 1, let id = answer.AccessKeyId, !id.isEmpty, let secret = answer.SecretAccessKey,
              !secret.isEmpty else {
            return .failure(Failure(message: "its output lacks Version 1, AccessKeyId or SecretAccessKey"))
        }
        return .success(AWSCredentials(accessKeyId: id, secretAccessKey: secret, sessionToken: answer.SessionToken))
    }
}
