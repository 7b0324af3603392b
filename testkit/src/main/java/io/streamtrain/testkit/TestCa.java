package io.streamtrain.testkit;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A certificate authority made for one test with the JDK's {@code keytool}: a CA, and a key for
 * a broker on 127.0.0.1 signed by it, so clients verify the broker (hostname included) as they
 * would a real cluster's.
 */
public final class TestCa {
    /** The broker's PKCS12 keystore (its key and the chain up to the CA), in the directory given to {@link #make}. */
    public static final String BROKER_KEYSTORE = "broker.p12";

    private TestCa() {}

    /**
     * Makes the CA and the broker's keystore in {@code dir}.
     *
     * @return the CA's certificate (PEM): the clients' truststore
     */
    public static Path make(Path dir, String password) throws IOException, InterruptedException {
        Files.createDirectories(dir);
        Path ca = dir.resolve("ca.p12");
        Path broker = dir.resolve(BROKER_KEYSTORE);
        Path caCert = dir.resolve("ca.crt");
        Path request = dir.resolve("broker.csr");
        Path brokerCert = dir.resolve("broker.crt");
        keytool(
                "-genkeypair",
                "-alias",
                "ca",
                "-dname",
                "CN=streamtrain test CA",
                "-ext",
                "bc:c",
                "-keyalg",
                "RSA",
                "-keysize",
                "2048",
                "-validity",
                "2",
                "-keystore",
                ca.toString(),
                "-storetype",
                "PKCS12",
                "-storepass",
                password);
        keytool(
                "-exportcert",
                "-rfc",
                "-alias",
                "ca",
                "-keystore",
                ca.toString(),
                "-storepass",
                password,
                "-file",
                caCert.toString());
        keytool(
                "-genkeypair",
                "-alias",
                "broker",
                "-dname",
                "CN=127.0.0.1",
                "-keyalg",
                "RSA",
                "-keysize",
                "2048",
                "-validity",
                "2",
                "-keystore",
                broker.toString(),
                "-storetype",
                "PKCS12",
                "-storepass",
                password);
        keytool(
                "-certreq",
                "-alias",
                "broker",
                "-keystore",
                broker.toString(),
                "-storepass",
                password,
                "-file",
                request.toString());
        keytool(
                "-gencert",
                "-alias",
                "ca",
                "-keystore",
                ca.toString(),
                "-storepass",
                password,
                "-infile",
                request.toString(),
                "-outfile",
                brokerCert.toString(),
                "-ext",
                "SAN=IP:127.0.0.1",
                "-validity",
                "2",
                "-rfc");
        keytool(
                "-importcert",
                "-noprompt",
                "-alias",
                "ca",
                "-file",
                caCert.toString(),
                "-keystore",
                broker.toString(),
                "-storepass",
                password);
        keytool(
                "-importcert",
                "-alias",
                "broker",
                "-file",
                brokerCert.toString(),
                "-keystore",
                broker.toString(),
                "-storepass",
                password);
        return caCert;
    }

    private static void keytool(String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "keytool").toString());
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new AssertionError(
                    "keytool " + String.join(" ", args) + " failed (the JDK's keytool makes the test's CA): " + out);
        }
    }
}
