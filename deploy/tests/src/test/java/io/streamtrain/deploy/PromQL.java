package io.streamtrain.deploy;

import io.streamtrain.testkit.MetricCatalogue;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * Just enough of PromQL to list an expression's selectors (metric names and label matchers), so
 * that a test can hold the dashboard and the rules to {@link MetricCatalogue}. Whether an
 * expression parses is Prometheus's business: the tests run every expression through it.
 */
public final class PromQL {
    /** A label matcher: {@code label op "value"}, with op one of {@code = != =~ !~}. */
    public record LabelMatcher(String label, String op, String value) {
        private static final Pattern ALTERNATION = Pattern.compile("[A-Za-z0-9_:-]+(\\|[A-Za-z0-9_:-]+)*");

        /** The values the matcher names: its value, or each alternative of a regex like {@code a|b|c}; empty for any other regex. */
        public List<String> values() {
            if (op.equals("=") || op.equals("!=")) {
                return List.of(value);
            }
            return ALTERNATION.matcher(value).matches() ? List.of(value.split("\\|")) : List.of();
        }
    }

    /** A series selector: a metric name (null in a bare {@code {…}}) and its matchers. */
    public record Selector(String metric, List<LabelMatcher> matchers) {
        /** The metric names the selector can select; empty when a {@code __name__} regex is not a plain alternation. */
        public List<String> metricNames() {
            if (metric != null) {
                return List.of(metric);
            }
            return matchers.stream()
                    .filter(m -> m.label().equals("__name__") && !m.op().startsWith("!"))
                    .findFirst()
                    .map(LabelMatcher::values)
                    .orElse(List.of());
        }
    }

    private static final Pattern TOKEN = Pattern.compile("(?<space>\\s+|#[^\\n]*)"
            + "|(?<str>\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`)"
            + "|(?<num>[0-9.][0-9A-Za-z.]*)"
            + "|(?<id>[A-Za-z_:][A-Za-z0-9_:]*)"
            + "|(?<op>=~|!~|!=|==|>=|<=|[-+*/%^<>=(){}\\[\\],@])");

    /** Keywords and aggregation operators: identifiers that are not metric names. */
    private static final Set<String> KEYWORDS = Set.of(
            "and",
            "or",
            "unless",
            "by",
            "without",
            "on",
            "ignoring",
            "group_left",
            "group_right",
            "bool",
            "offset",
            "inf",
            "nan",
            "start",
            "end",
            "atan2",
            "sum",
            "min",
            "max",
            "avg",
            "group",
            "stddev",
            "stdvar",
            "count",
            "count_values",
            "bottomk",
            "topk",
            "quantile",
            "limitk",
            "limit_ratio");

    /** Keywords followed by a parenthesised list of label names. */
    private static final Set<String> LABEL_LISTS =
            Set.of("by", "without", "on", "ignoring", "group_left", "group_right");

    private record Token(String kind, String text) {}

    private PromQL() {}

    /** Every selector of {@code expr}, in order. */
    public static List<Selector> selectors(String expr) {
        List<Token> tokens = tokens(expr);
        List<Selector> selectors = new ArrayList<>();
        int i = 0;
        while (i < tokens.size()) {
            Token t = tokens.get(i);
            if (t.kind().equals("id")) {
                String word = t.text().toLowerCase(Locale.ROOT);
                if (KEYWORDS.contains(word)) {
                    i = LABEL_LISTS.contains(word) && is(tokens, i + 1, "(")
                            ? closing(tokens, i + 1, "(", ")") + 1
                            : i + 1;
                } else if (is(tokens, i + 1, "(")) {
                    i++; // a function call
                } else if (is(tokens, i + 1, "{")) {
                    int end = closing(tokens, i + 1, "{", "}");
                    selectors.add(new Selector(t.text(), matchers(tokens.subList(i + 2, end), expr)));
                    i = end + 1;
                } else {
                    selectors.add(new Selector(t.text(), List.of()));
                    i++;
                }
            } else if (t.text().equals("{")) {
                int end = closing(tokens, i, "{", "}");
                selectors.add(new Selector(null, matchers(tokens.subList(i + 1, end), expr)));
                i = end + 1;
            } else if (t.text().equals("[")) {
                i = closing(tokens, i, "[", "]") + 1; // a range or subquery: durations only
            } else {
                i++;
            }
        }
        return selectors;
    }

    private static List<LabelMatcher> matchers(List<Token> tokens, String expr) {
        List<LabelMatcher> matchers = new ArrayList<>();
        int i = 0;
        while (i < tokens.size()) {
            if (i + 2 >= tokens.size()
                    || !tokens.get(i).kind().equals("id")
                    || !tokens.get(i + 2).kind().equals("str")) {
                throw new IllegalArgumentException("cannot read the label matchers of: " + expr);
            }
            matchers.add(new LabelMatcher(
                    tokens.get(i).text(),
                    tokens.get(i + 1).text(),
                    unquote(tokens.get(i + 2).text())));
            i += 3;
            if (is(tokens, i, ",")) {
                i++;
            }
        }
        return matchers;
    }

    private static List<Token> tokens(String expr) {
        List<Token> tokens = new ArrayList<>();
        Matcher m = TOKEN.matcher(expr);
        int at = 0;
        while (at < expr.length()) {
            if (!m.find(at) || m.start() != at) {
                throw new IllegalArgumentException("unexpected character at " + at + " in: " + expr);
            }
            for (String kind : List.of("str", "num", "id", "op")) {
                if (m.group(kind) != null) {
                    tokens.add(new Token(kind, m.group(kind)));
                }
            }
            at = m.end();
        }
        return tokens;
    }

    private static boolean is(List<Token> tokens, int i, String text) {
        return i < tokens.size()
                && tokens.get(i).kind().equals("op")
                && tokens.get(i).text().equals(text);
    }

    /** Index of the token that closes the bracket at {@code open}. */
    private static int closing(List<Token> tokens, int open, String left, String right) {
        int depth = 0;
        for (int i = open; i < tokens.size(); i++) {
            if (is(tokens, i, left)) {
                depth++;
            } else if (is(tokens, i, right) && --depth == 0) {
                return i;
            }
        }
        throw new IllegalArgumentException("unbalanced " + left + right + " in: "
                + tokens.stream().map(Token::text).collect(Collectors.joining(" ")));
    }

    private static String unquote(String quoted) {
        String body = quoted.substring(1, quoted.length() - 1);
        return quoted.startsWith("`") ? body : body.replaceAll("\\\\(.)", "$1");
    }
}
