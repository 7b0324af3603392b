package io.streamtrain.cli;

import io.streamtrain.core.kafka.StartupException;
import io.streamtrain.core.signing.Right;
import io.streamtrain.core.signing.Signing;
import io.streamtrain.core.signing.SigningKey;
import io.streamtrain.core.signing.TrustedKeys;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.EnumSet;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code streamtrain keys}: the signing keys that say who may steer a run (docs/operations.md, "Signed messages"). */
@Command(
        name = "keys",
        mixinStandardHelpOptions = true,
        subcommands = KeysCommand.New.class,
        description = {
            "Make the signing keys of a run's operators, evaluator and trainers.",
            "",
            "With STREAMTRAIN_TRUSTED_KEYS set, trainers, the evaluator, ctl and export act only on control commands, STOPs, "
                    + "acknowledgements, checkpoint manifests and evaluations signed by a key that file trusts with the right "
                    + "the message needs; each process signs what it writes with the key STREAMTRAIN_SIGNING_KEY names."
        },
        footer = {
            "",
            "Examples:",
            "  streamtrain keys new alice --may operator --dir keys/",
            "  streamtrain keys new evaluator --may evaluator --dir keys/",
            "  streamtrain keys new trainer --may trainer --dir keys/"
        })
public final class KeysCommand {

    @Command(
            name = "new",
            mixinStandardHelpOptions = true,
            description = {
                "Make a key pair: DIR/ID.key holds the secret half (mode 0600; give it only to its owner as "
                        + "STREAMTRAIN_SIGNING_KEY), and the public half is added to DIR/trusted-keys with its rights (give that "
                        + "file to every trainer, evaluator and operator as STREAMTRAIN_TRUSTED_KEYS).",
                "Never overwrites a key."
            })
    static final class New implements Callable<Integer> {
        @Parameters(
                paramLabel = "ID",
                description = "The key's id: 1 to 64 of [A-Za-z0-9._-]; what acknowledgements and ctl status "
                        + "name as the signer.")
        String id;

        @Option(
                names = "--may",
                required = true,
                paramLabel = "ROLES",
                description =
                        "What the key may sign, comma-separated: a role (operator: stop, pause, resume, set, checkpoint, register; "
                                + "evaluator: stop, evaluation; trainer: ack, manifest, sync) or single rights.")
        String may;

        @Option(
                names = "--dir",
                defaultValue = ".",
                paramLabel = "DIR",
                description = "Where the files go (default: the current directory).")
        Path dir;

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() {
            PrintWriter out = spec.commandLine().getOut();
            PrintWriter err = spec.commandLine().getErr();
            Set<Right> rights = EnumSet.noneOf(Right.class);
            SigningKey key;
            try {
                for (String w : may.split(",")) {
                    rights.addAll(Right.parse(w));
                }
                key = SigningKey.generate(id);
            } catch (IllegalArgumentException e) {
                err.println("streamtrain keys: " + e.getMessage());
                return StartupException.BAD_CONFIGURATION;
            }
            Path keyFile = dir.resolve(id + ".key");
            Path trusted = dir.resolve("trusted-keys");
            try {
                Files.createDirectories(dir);
                if (Files.exists(trusted)) {
                    TrustedKeys existing = TrustedKeys.read(trusted);
                    if (existing.entry(id).isPresent()) {
                        err.println("streamtrain keys: " + trusted + " already trusts a key " + id
                                + "; nothing was written");
                        return StartupException.BAD_CONFIGURATION;
                    }
                }
                writeSecret(keyFile, key.format());
                // the roles as named (a role keeps its meaning when a version gives it a new right), rights as given
                String line = key.trustedLine(
                                may.strip().toLowerCase(java.util.Locale.ROOT).replace(" ", "")) + "\n";
                if (!Files.exists(trusted)) {
                    line =
                            "# streamtrain trusted keys: <id> <rights> <Ed25519 public key>; public, give it to every process of the run\n"
                                    + line;
                }
                Files.writeString(
                        trusted, line, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
            } catch (FileAlreadyExistsException e) {
                err.println("streamtrain keys: " + keyFile
                        + " exists; a key is never overwritten (delete it first, and its line" + " in " + trusted
                        + ")");
                return StartupException.BAD_CONFIGURATION;
            } catch (IOException | IllegalArgumentException e) {
                err.println("streamtrain keys: " + e.getMessage());
                return StartupException.BAD_CONFIGURATION;
            }
            out.println(
                    "wrote " + keyFile + " (secret: for its owner only, as " + Signing.KEY_ENV + "=" + keyFile + ")");
            out.println("added " + id + " (may: "
                    + rights.stream().map(Right::label).toList() + ") to " + trusted + " (for every process"
                    + " of the run, as " + Signing.TRUSTED_ENV + "=" + trusted + ")");
            return 0;
        }

        private static void writeSecret(Path file, String text) throws IOException {
            try {
                Files.createFile(
                        file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            } catch (UnsupportedOperationException noPosix) {
                Files.createFile(file);
            }
            Files.writeString(file, text, StandardCharsets.UTF_8, StandardOpenOption.TRUNCATE_EXISTING);
        }
    }
}
