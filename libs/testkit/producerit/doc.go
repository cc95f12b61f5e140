// Package producerit holds the integration tests of libs/producer against the
// local stack's SQS emulator. They live in the test-support module, not in the
// producer's own module, so that the producer module's graph holds only what a
// producer service links (the SQS SDK and the schema contract), not the test
// harness's Postgres, GCS and BigQuery clients.
package producerit
