package io.streamtrain.lab.demo;

import io.streamtrain.lab.report.StepSample;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

/**
 * One scrape of a trainer node's {@code /metrics}, read for what the demo shows and
 * reports: the node's progress, throughput and the last step's loss terms. The same
 * numbers an operator's Prometheus gets.
 */
public record TrainerScrape(StepSample sample, double partitions, double awaitingData) {
    private static final HttpClient HTTP =
            HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

    /** Scrapes {@code http://127.0.0.1:port/metrics}. */
    public static TrainerScrape of(int port) throws IOException, InterruptedException {
        HttpResponse<String> r = HTTP.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics"))
                        .timeout(Duration.ofSeconds(5))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() != 200) {
            throw new IOException("/metrics on port " + port + " answered " + r.statusCode());
        }
        return parse(r.body(), System.currentTimeMillis());
    }

    /** Reads the trainer's samples out of a Prometheus text-format scrape taken at {@code timeMillis}. */
    static TrainerScrape parse(String text, long timeMillis) {
        Map<String, Double> v = new HashMap<>();
        for (String line : text.split("\n")) {
            if (line.isEmpty() || line.charAt(0) == '#') {
                continue;
            }
            int space = line.lastIndexOf(' ');
            if (space < 0) {
                continue;
            }
            String series = line.substring(0, space);
            int brace = series.indexOf('{');
            String name = brace < 0 ? series : series.substring(0, brace);
            if (!name.startsWith("streamtrain_trainer_")) {
                continue;
            }
            String key = name;
            int term = series.indexOf("term=\"");
            if (term >= 0) {
                key += ":" + series.substring(term + 6, series.indexOf('"', term + 6));
            }
            v.put(key, Double.parseDouble(line.substring(space + 1)));
        }
        return new TrainerScrape(
                new StepSample(
                        timeMillis,
                        (int) get(v, "streamtrain_trainer_epoch"),
                        (long) get(v, "streamtrain_trainer_steps_total"),
                        get(v, "streamtrain_trainer_samples_total"),
                        get(v, "streamtrain_trainer_loss:data"),
                        get(v, "streamtrain_trainer_loss:l1"),
                        get(v, "streamtrain_trainer_loss:l2"),
                        get(v, "streamtrain_trainer_loss:l2sp"),
                        get(v, "streamtrain_trainer_weight_norm"),
                        get(v, "streamtrain_trainer_learning_rate")),
                get(v, "streamtrain_trainer_partitions"),
                get(v, "streamtrain_trainer_awaiting_data"));
    }

    private static double get(Map<String, Double> v, String key) {
        return v.getOrDefault(key, Double.NaN);
    }
}
