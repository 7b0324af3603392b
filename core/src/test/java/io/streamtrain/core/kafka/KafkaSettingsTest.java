package io.streamtrain.core.kafka;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.Map;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;

class KafkaSettingsTest {

    @Test
    void environmentGivesBootstrapAndPassthrough() {
        KafkaSettings s = KafkaSettings.fromEnvironment(
                Map.of(
                        "STREAMTRAIN_BOOTSTRAP_SERVERS", "broker-1:9093,broker-2:9093",
                        "STREAMTRAIN_KAFKA_SECURITY_PROTOCOL", "SSL",
                        "STREAMTRAIN_KAFKA_SSL_TRUSTSTORE_LOCATION", "/etc/kafka/truststore.jks",
                        "PATH", "/usr/bin",
                        "STREAMTRAIN_METRICS_PORT", "9404"),
                null);
        assertEquals("broker-1:9093,broker-2:9093", s.bootstrapServers());
        assertEquals(
                Map.of("security.protocol", "SSL", "ssl.truststore.location", "/etc/kafka/truststore.jks"),
                s.passthrough(),
                "only STREAMTRAIN_KAFKA_* variables pass through");

        Map<String, Object> c = s.consumer("g");
        assertEquals("broker-1:9093,broker-2:9093", c.get("bootstrap.servers"));
        assertEquals("SSL", c.get("security.protocol"));
        assertEquals("/etc/kafka/truststore.jks", c.get("ssl.truststore.location"));
        assertEquals("SSL", s.producer().get("security.protocol"));
        assertEquals("SSL", s.admin().get("security.protocol"));
    }

    private static java.util.Optional<String> principalOf(Map<String, String> settings) {
        return new KafkaSettings("b:9092", settings).principal();
    }

    @Test
    void thePrincipalIsTheSaslUserWhenTheSettingsNameIt() {
        String scram =
                "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"ops-alice\" password=\"p=\\\"x\";";
        assertEquals(
                java.util.Optional.of("User:ops-alice"),
                KafkaSettings.fromEnvironment(
                                Map.of(
                                        "STREAMTRAIN_KAFKA_SECURITY_PROTOCOL",
                                        "SASL_SSL",
                                        "STREAMTRAIN_KAFKA_SASL_MECHANISM",
                                        "SCRAM-SHA-512",
                                        "STREAMTRAIN_KAFKA_SASL_JAAS_CONFIG",
                                        scram),
                                null)
                        .principal());
        assertEquals(
                java.util.Optional.of("User:bob"),
                principalOf(
                        Map.of(
                                "security.protocol",
                                "SASL_PLAINTEXT",
                                "sasl.mechanism",
                                "PLAIN",
                                "sasl.jaas.config",
                                "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"bob\" password=\"s\";")));
        assertEquals(
                java.util.Optional.of("User:svc"),
                principalOf(
                        Map.of(
                                "security.protocol",
                                "SASL_SSL",
                                "sasl.jaas.config",
                                "com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true principal=\"svc/host@EXAMPLE.COM\";")),
                "Kerberos (Kafka's default mechanism): the primary, as the broker's DEFAULT rule maps its own realm's");
        assertEquals(
                java.util.Optional.empty(),
                KafkaSettings.of("b:9092").principal(),
                "plaintext: the broker alone knows");
        assertEquals(
                java.util.Optional.empty(),
                principalOf(Map.of("security.protocol", "SSL")),
                "TLS without a client certificate: the broker names it ANONYMOUS");
        assertEquals(
                java.util.Optional.empty(),
                principalOf(
                        Map.of(
                                "security.protocol",
                                "SASL_SSL",
                                "sasl.mechanism",
                                "OAUTHBEARER",
                                "sasl.jaas.config",
                                "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required clientId=\"c\";")),
                "a token from an identity provider carries its subject inside");
        assertEquals(
                java.util.Optional.of("User:etl-bot"),
                principalOf(
                        Map.of(
                                "security.protocol",
                                "SASL_PLAINTEXT",
                                "sasl.mechanism",
                                "OAUTHBEARER",
                                "sasl.jaas.config",
                                "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub=\"etl-bot\";")));
    }

    /** Mutual TLS: the subject of the keystore's certificate, as Kafka's default principal builder writes it. */
    @Test
    void thePrincipalOfAClientCertificateIsItsSubject(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws Exception {
        java.nio.file.Path store = dir.resolve("client.p12");
        Process keytool = new ProcessBuilder(
                        java.nio.file.Path.of(System.getProperty("java.home"), "bin", "keytool")
                                .toString(),
                        "-genkeypair",
                        "-alias",
                        "client",
                        "-keyalg",
                        "EC",
                        "-dname",
                        "CN=ops-alice, OU=ml, O=Acme",
                        "-validity",
                        "2",
                        "-storetype",
                        "PKCS12",
                        "-keystore",
                        store.toString(),
                        "-storepass",
                        "secret1",
                        "-keypass",
                        "secret1")
                .redirectErrorStream(true)
                .start();
        String said = new String(keytool.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertEquals(0, keytool.waitFor(), said);
        Map<String, String> tls = Map.of(
                "security.protocol", "SSL",
                "ssl.keystore.type", "PKCS12",
                "ssl.keystore.location", store.toString(),
                "ssl.keystore.password", "secret1");
        assertEquals(
                java.util.Optional.of("User:CN=ops-alice,OU=ml,O=Acme"), new KafkaSettings("b:9092", tls).principal());

        // the same certificate as PEM, inline
        java.security.KeyStore ks = java.security.KeyStore.getInstance("PKCS12");
        try (java.io.InputStream in = java.nio.file.Files.newInputStream(store)) {
            ks.load(in, "secret1".toCharArray());
        }
        String pem = "-----BEGIN CERTIFICATE-----\n"
                + java.util.Base64.getMimeEncoder(64, new byte[] {'\n'})
                        .encodeToString(ks.getCertificate("client").getEncoded())
                + "\n-----END CERTIFICATE-----\n";
        assertEquals(
                java.util.Optional.of("User:CN=ops-alice,OU=ml,O=Acme"),
                principalOf(Map.of(
                        "security.protocol", "SSL",
                        "ssl.keystore.type", "PEM",
                        "ssl.keystore.certificate.chain", pem)));

        assertEquals(
                java.util.Optional.empty(),
                principalOf(Map.of(
                        "security.protocol", "SSL",
                        "ssl.keystore.type", "PKCS12",
                        "ssl.keystore.location", store.toString(),
                        "ssl.keystore.password", "wrong")),
                "a keystore that cannot be opened: the client says why when it connects");

        // a PEM keystore file: the private key first, then the certificate, as tools write them
        java.nio.file.Path pemFile = dir.resolve("client.pem");
        java.nio.file.Files.writeString(
                pemFile,
                "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n"
                        + pem);
        assertEquals(
                java.util.Optional.of("User:CN=ops-alice,OU=ml,O=Acme"),
                principalOf(Map.of(
                        "security.protocol", "SSL",
                        "ssl.keystore.type", "PEM",
                        "ssl.keystore.location", pemFile.toString())));
    }

    @Test
    void theTrainFeedDoesNotWaitHalfASecondForAnEmptyFetchUnlessTold() {
        assertEquals(
                KafkaSettings.EPOCH_START_FETCH_WAIT_MS,
                KafkaSettings.of("b:9092").trainFeedConsumer("g").get("fetch.max.wait.ms"));
        KafkaSettings told =
                KafkaSettings.fromEnvironment(Map.of("STREAMTRAIN_KAFKA_FETCH_MAX_WAIT_MS", "500"), "b:9092");
        assertEquals(
                "500",
                String.valueOf(told.trainFeedConsumer("g").get("fetch.max.wait.ms")),
                "an operator's setting stands");
    }

    @Test
    void theFeedAndTheSyncLogLetTheSystemSizeTheirSocketBufferUnlessTold() {
        KafkaSettings kafka = KafkaSettings.of("b:9092");
        // Kafka's 64 KB default fixes the buffer and turns off Linux's autotuning; -1 leaves it to the system
        assertEquals(-1, kafka.trainFeedConsumer("g").get("receive.buffer.bytes"));
        assertEquals(-1, kafka.syncReader(512 * 1024).get("receive.buffer.bytes"));
        assertFalse(kafka.reader().containsKey("receive.buffer.bytes"), "small reads keep Kafka's default");
        KafkaSettings told =
                KafkaSettings.fromEnvironment(Map.of("STREAMTRAIN_KAFKA_RECEIVE_BUFFER_BYTES", "65536"), "b:9092");
        assertEquals("65536", String.valueOf(told.trainFeedConsumer("g").get("receive.buffer.bytes")));
        assertEquals(
                "65536",
                String.valueOf(told.syncReader(512 * 1024).get("receive.buffer.bytes")),
                "an operator's setting stands");
    }

    @Test
    void commandLineBootstrapWins() {
        KafkaSettings s = KafkaSettings.fromEnvironment(
                Map.of(
                        "STREAMTRAIN_BOOTSTRAP_SERVERS", "from-env:9092",
                        "STREAMTRAIN_KAFKA_BOOTSTRAP_SERVERS", "from-passthrough:9092"),
                "from-cli:9092");
        assertEquals("from-cli:9092", s.bootstrapServers());
        assertEquals("from-cli:9092", s.consumer("g").get("bootstrap.servers"));
        assertEquals("from-cli:9092", s.producer().get("bootstrap.servers"));
        assertEquals("from-cli:9092", s.admin().get("bootstrap.servers"));
    }

    @Test
    void bootstrapFallsBackToPassthroughThenLocalhost() {
        assertEquals(
                "pt:9092",
                KafkaSettings.fromEnvironment(Map.of("STREAMTRAIN_KAFKA_BOOTSTRAP_SERVERS", "pt:9092"), null)
                        .bootstrapServers());
        assertEquals(
                "localhost:9092", KafkaSettings.fromEnvironment(Map.of(), null).bootstrapServers());
    }

    @Test
    void consumerHasTheCorrectnessSettings() {
        Map<String, Object> c = KafkaSettings.of("b:9092").consumer("streamtrain.r1");
        assertEquals("streamtrain.r1", c.get("group.id"));
        assertEquals(false, c.get("enable.auto.commit"));
        assertEquals("read_committed", c.get("isolation.level"));
        assertEquals(ByteArrayDeserializer.class.getName(), c.get("key.deserializer"));
        assertEquals(ByteArrayDeserializer.class.getName(), c.get("value.deserializer"));
        assertEquals("earliest", c.get("auto.offset.reset"));
    }

    @Test
    void consumerWithoutGroupHasNoGroupId() {
        assertFalse(KafkaSettings.of("b:9092").consumer(null).containsKey("group.id"));
    }

    @Test
    void passthroughCannotUndoTheCorrectnessSettings() {
        KafkaSettings s = KafkaSettings.fromEnvironment(
                Map.of(
                        "STREAMTRAIN_KAFKA_ENABLE_AUTO_COMMIT", "true",
                        "STREAMTRAIN_KAFKA_ISOLATION_LEVEL", "read_uncommitted",
                        "STREAMTRAIN_KAFKA_ENABLE_IDEMPOTENCE", "false",
                        "STREAMTRAIN_KAFKA_ACKS", "1",
                        "STREAMTRAIN_KAFKA_VALUE_DESERIALIZER",
                                "org.apache.kafka.common.serialization.StringDeserializer"),
                null);
        Map<String, Object> c = s.consumer("g");
        assertEquals(false, c.get("enable.auto.commit"));
        assertEquals("read_committed", c.get("isolation.level"));
        assertEquals(ByteArrayDeserializer.class.getName(), c.get("value.deserializer"));

        Map<String, Object> p = s.transactionalProducer("tx");
        assertEquals(true, p.get("enable.idempotence"));
        assertEquals("all", p.get("acks"));

        // the same through the record constructor, as a caller with its own property map would
        KafkaSettings direct = new KafkaSettings(
                "b:9092",
                Map.of(
                        "enable.auto.commit",
                        "true",
                        "isolation.level",
                        "read_uncommitted",
                        "transactional.id",
                        "other"));
        assertEquals(false, direct.consumer("g").get("enable.auto.commit"));
        assertEquals("read_committed", direct.consumer("g").get("isolation.level"));
        assertEquals("mine", direct.transactionalProducer("mine").get("transactional.id"));
    }

    @Test
    void passthroughAutoOffsetResetIsHonoured() {
        KafkaSettings s = new KafkaSettings("b:9092", Map.of("auto.offset.reset", "latest"));
        assertEquals("latest", s.consumer("g").get("auto.offset.reset"));
    }

    @Test
    void transactionalProducer() {
        Map<String, Object> p = KafkaSettings.of("b:9092").transactionalProducer("streamtrain.r1.node-0");
        assertEquals("streamtrain.r1.node-0", p.get("transactional.id"));
        assertEquals(true, p.get("enable.idempotence"));
        assertEquals("all", p.get("acks"));
        assertEquals(ByteArraySerializer.class.getName(), p.get("key.serializer"));
        assertEquals(ByteArraySerializer.class.getName(), p.get("value.serializer"));
        assertEquals("b:9092", p.get("bootstrap.servers"));
    }

    @Test
    void plainProducerIsIdempotentButNotTransactional() {
        Map<String, Object> p = KafkaSettings.of("b:9092").producer();
        assertEquals(true, p.get("enable.idempotence"));
        assertNull(p.get("transactional.id"));
    }

    @Test
    void adminFailsFast() {
        Map<String, Object> a = KafkaSettings.of("b:9092").admin();
        assertEquals(10_000, a.get("default.api.timeout.ms"));
        assertEquals(10_000, a.get("request.timeout.ms"));
    }

    @Test
    void configsAreFreshCopies() {
        KafkaSettings s = KafkaSettings.of("b:9092");
        s.consumer("g").put("enable.auto.commit", true);
        assertEquals(false, s.consumer("g").get("enable.auto.commit"));
    }
}
