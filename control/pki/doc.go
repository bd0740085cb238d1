// Package pki is the cluster's certificate authority: it makes the CA, issues
// node certificates, builds the mutual-TLS configurations for the managers'
// port (2377) and parses the join tokens that pin the CA.
//
// The join flow, in the manner of docker swarm:
//
//  1. At cluster init the first manager calls NewCA and issues itself a
//     manager certificate with Issue.
//  2. A join token (WEFT-1-<fingerprint>-<secret>) carries the SHA-256 of the
//     CA certificate and a secret; workers and managers have separate secrets.
//  3. The joining node dials a manager with JoinClientConfig, which fails the
//     handshake unless the server's chain ends in the CA the token pins, so
//     the secret is never sent to anyone else. The manager listens with
//     JoinServerConfig, checks the secret with CheckSecret and answers with
//     Issue's certificate and the CA certificate.
//  4. From then on every connection uses ServerConfig and ClientConfig:
//     mutual TLS 1.3, both sides chained to the CA.
package pki
