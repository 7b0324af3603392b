package io.streamtrain.testkit;

import java.nio.file.Files;
import java.nio.file.Path;

/** The checkout a test runs in: tests of every module read the same README, docs and deploy files. */
public final class Repo {
    private Repo() {}

    /**
     * The checkout's top directory: the nearest directory at or above the working directory (a
     * module's, when Maven runs its tests) that holds README.md and deploy/.
     */
    public static Path root() {
        Path start = Path.of(System.getProperty("user.dir")).toAbsolutePath().normalize();
        for (Path dir = start; dir != null; dir = dir.getParent()) {
            if (Files.isRegularFile(dir.resolve("README.md")) && Files.isDirectory(dir.resolve("deploy"))) {
                return dir;
            }
        }
        throw new IllegalStateException("no streamtrain checkout (README.md and deploy/) at or above " + start);
    }

    /** A file or directory of the checkout, e.g. {@code path("deploy", "k8s")}. */
    public static Path path(String first, String... more) {
        return root().resolve(Path.of(first, more));
    }
}
