/**
 * A throwaway CA and a server certificate signed by it, made with `openssl`
 * for TLS tests: the certificate names `redis.test` and `127.0.0.1`, and
 * serves as the client certificate of servers that talk to each other (a
 * cluster's bus, replication).
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Files (PEM) of a test CA and of a server certificate it signed. */
export interface TestCertificates {
  readonly caFile: string;
  /** The CA certificate, PEM text. */
  readonly ca: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** Names the server certificate carries. */
  readonly names: ReadonlyArray<string>;
}

/**
 * Writes a CA (`ca.crt`, `ca.key`) and a server certificate (`server.crt`,
 * `server.key`, EC P-256, valid 2 days) into `dir`.
 *
 * @throws Error when `openssl` is missing or fails.
 */
export const makeTestCertificates = (dir: string): TestCertificates => {
  const file = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "ignore" });
  const key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  openssl(
    "req",
    "-x509",
    ...key,
    "-keyout",
    file("ca.key"),
    "-out",
    file("ca.crt"),
    "-days",
    "2",
    "-subj",
    "/CN=Weft test CA",
  );
  openssl(
    "req",
    ...key,
    "-keyout",
    file("server.key"),
    "-out",
    file("server.csr"),
    "-subj",
    "/CN=redis.test",
  );
  writeFileSync(file("ext.cnf"), "subjectAltName=DNS:redis.test,IP:127.0.0.1\n");
  openssl(
    "x509",
    "-req",
    "-in",
    file("server.csr"),
    "-CA",
    file("ca.crt"),
    "-CAkey",
    file("ca.key"),
    "-CAcreateserial",
    "-out",
    file("server.crt"),
    "-days",
    "2",
    "-extfile",
    file("ext.cnf"),
  );
  return {
    caFile: file("ca.crt"),
    ca: readFileSync(file("ca.crt"), "utf8"),
    certFile: file("server.crt"),
    keyFile: file("server.key"),
    names: ["redis.test", "127.0.0.1"],
  };
};
