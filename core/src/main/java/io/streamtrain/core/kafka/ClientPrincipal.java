package io.streamtrain.core.kafka;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.Collections;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.common.config.SaslConfigs;
import org.apache.kafka.common.config.SslConfigs;

/**
 * The Kafka principal a client's settings log in as, as the broker names it with its default
 * rules, worked out from the settings alone (no connection). The broker may be configured to
 * map names otherwise ({@code ssl.principal.mapping.rules},
 * {@code sasl.kerberos.principal.to.local.rules}, a custom principal builder, an OAuth
 * {@code sub} claim name); then the ACLs name the principal as those rules do, and this is the
 * name before mapping.
 *
 * <ul>
 *   <li>SASL PLAIN or SCRAM: {@code User:<username>} from {@code sasl.jaas.config}.
 *   <li>SASL GSSAPI (Kerberos): {@code User:<primary>} from the JAAS {@code principal}
 *       ({@code alice@EXAMPLE.COM} and {@code alice/host@EXAMPLE.COM} are {@code alice}: the
 *       broker's {@code DEFAULT} rule, for a principal of its default realm).
 *   <li>SASL OAUTHBEARER: {@code User:<sub>} when the JAAS configuration names the subject
 *       ({@code unsecuredLoginStringClaim_sub}); a token from an identity provider carries its
 *       subject inside, which the client does not read: empty.
 *   <li>SSL with a client certificate (mutual TLS): {@code User:<subject DN>} (RFC 2253, as
 *       Kafka's default principal builder writes it) of the keystore's key certificate
 *       ({@code ssl.keystore.location} of type JKS or PKCS12, or PEM in
 *       {@code ssl.keystore.certificate.chain} or at {@code ssl.keystore.location}).
 * </ul>
 *
 * Empty for anything else (plaintext, TLS without a client certificate, a keystore that
 * cannot be read, a callback handler that makes the credentials).
 */
final class ClientPrincipal {
    private static final Pattern JAAS_USERNAME = Pattern.compile("\\busername\\s*=\\s*\"([^\"]+)\"");
    private static final Pattern JAAS_PRINCIPAL = Pattern.compile("\\bprincipal\\s*=\\s*\"([^\"]+)\"");
    private static final Pattern JAAS_OAUTH_SUB =
            Pattern.compile("\\bunsecuredLoginStringClaim_sub\\s*=\\s*\"([^\"]+)\"");

    private static final Pattern PEM_CERTIFICATE =
            Pattern.compile("-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----");

    private ClientPrincipal() {}

    static Optional<String> of(Map<String, String> settings) {
        String protocol =
                settings.getOrDefault("security.protocol", "PLAINTEXT").toUpperCase(Locale.ROOT);
        if (protocol.startsWith("SASL_")) {
            return sasl(settings);
        }
        if (protocol.equals("SSL")) {
            return certificateSubject(settings).map(dn -> "User:" + dn);
        }
        return Optional.empty();
    }

    private static Optional<String> sasl(Map<String, String> settings) {
        String jaas = settings.get(SaslConfigs.SASL_JAAS_CONFIG);
        if (jaas == null) {
            return Optional.empty();
        }
        String mechanism = settings.getOrDefault(SaslConfigs.SASL_MECHANISM, SaslConfigs.DEFAULT_SASL_MECHANISM)
                .toUpperCase(Locale.ROOT);
        if (mechanism.equals("PLAIN") || mechanism.startsWith("SCRAM-")) {
            return group(JAAS_USERNAME, jaas).map(name -> "User:" + name);
        }
        if (mechanism.equals("GSSAPI")) {
            // primary[/instance]@REALM: Kafka's DEFAULT rule keeps the primary of a principal of the default realm
            return group(JAAS_PRINCIPAL, jaas)
                    .map(p -> p.split("[/@]", 2)[0])
                    .filter(p -> !p.isEmpty())
                    .map(p -> "User:" + p);
        }
        if (mechanism.equals("OAUTHBEARER")) {
            return group(JAAS_OAUTH_SUB, jaas).map(sub -> "User:" + sub);
        }
        return Optional.empty();
    }

    private static Optional<String> group(Pattern p, String text) {
        Matcher m = p.matcher(text);
        return m.find() ? Optional.of(m.group(1)) : Optional.empty();
    }

    /** The subject of the client certificate the settings present, if they present one that can be read. */
    static Optional<String> certificateSubject(Map<String, String> settings) {
        String type = settings.getOrDefault(SslConfigs.SSL_KEYSTORE_TYPE_CONFIG, SslConfigs.DEFAULT_SSL_KEYSTORE_TYPE);
        String location = settings.get(SslConfigs.SSL_KEYSTORE_LOCATION_CONFIG);
        try {
            if (type.equalsIgnoreCase("PEM")) {
                String chain = settings.get(SslConfigs.SSL_KEYSTORE_CERTIFICATE_CHAIN_CONFIG);
                byte[] pem = chain != null
                        ? chain.getBytes(StandardCharsets.US_ASCII)
                        : location != null ? Files.readAllBytes(Path.of(location)) : null;
                if (pem == null) {
                    return Optional.empty();
                }
                // a PEM keystore file holds the private key too (often first): read the certificates only
                Matcher first = PEM_CERTIFICATE.matcher(new String(pem, StandardCharsets.US_ASCII));
                if (!first.find()) {
                    return Optional.empty();
                }
                return subject(CertificateFactory.getInstance("X.509")
                        .generateCertificate(
                                new ByteArrayInputStream(first.group().getBytes(StandardCharsets.US_ASCII))));
            }
            if (location == null) {
                return Optional.empty();
            }
            String password = settings.get(SslConfigs.SSL_KEYSTORE_PASSWORD_CONFIG);
            KeyStore store = KeyStore.getInstance(type);
            try (InputStream in = Files.newInputStream(Path.of(location))) {
                store.load(in, password == null ? null : password.toCharArray());
            }
            for (String alias : Collections.list(store.aliases())) {
                if (store.isKeyEntry(alias)) {
                    return subject(store.getCertificate(alias));
                }
            }
            return Optional.empty();
        } catch (IOException | GeneralSecurityException | RuntimeException e) {
            return Optional.empty(); // the client will say what is wrong with its keystore when it connects
        }
    }

    private static Optional<String> subject(Certificate c) {
        return c instanceof X509Certificate x
                ? Optional.of(x.getSubjectX500Principal().getName())
                : Optional.empty();
    }
}
