package io.streamtrain.core.regularization;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * Decides which parameters the penalties and weight decay apply to, from the spec's
 * {@code exclude} patterns: a pattern with {@code *} is a glob over the whole name, any
 * other pattern matches as a substring (so {@code bias} exempts {@code 01Linear_bias}).
 * Matching ignores case.
 */
public final class ParameterSelector {
    private final List<Pattern> globs;
    private final List<String> substrings;

    public ParameterSelector(List<String> exclude) {
        this.globs = exclude.stream()
                .filter(p -> p.contains("*"))
                .map(p -> Pattern.compile(globToRegex(p), Pattern.CASE_INSENSITIVE))
                .toList();
        this.substrings = exclude.stream()
                .filter(p -> !p.contains("*"))
                .map(p -> p.toLowerCase(Locale.ROOT))
                .toList();
    }

    /** True when the parameter is regularized (penalties and decay apply to it). */
    public boolean regularized(String parameterName) {
        String lower = parameterName.toLowerCase(Locale.ROOT);
        return substrings.stream().noneMatch(lower::contains)
                && globs.stream().noneMatch(g -> g.matcher(parameterName).matches());
    }

    private static String globToRegex(String glob) {
        return Arrays.stream(glob.split("\\*", -1)).map(Pattern::quote).collect(Collectors.joining(".*"));
    }
}
