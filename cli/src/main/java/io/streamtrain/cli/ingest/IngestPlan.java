package io.streamtrain.cli.ingest;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Which samples go where, in what order: a pure function of the sample count, the seed and
 * the split, so an ingest repeated with the same arguments writes the same records.
 *
 * @param train sample indexes for the train topic, in the order they are written
 * @param validation sample indexes for the validation topic (empty without a split)
 */
record IngestPlan(int[] train, int[] validation) {

    /**
     * @param samples how many samples the input holds
     * @param shuffle whether to shuffle (Fisher–Yates from {@code seed}) or keep input order
     * @param limit at most this many samples are used (0: all), taken after shuffling
     * @param validationFraction the share of the used samples that goes to validation: the
     *     first {@code round(n * fraction)} of the order, at least one when the fraction is
     *     above zero; the rest is train
     */
    static IngestPlan of(int samples, boolean shuffle, long seed, int limit, double validationFraction) {
        int[] order = order(samples, shuffle, seed);
        if (limit > 0 && limit < order.length) {
            order = Arrays.copyOf(order, limit);
        }
        int validation = 0;
        if (validationFraction > 0) {
            validation = (int) Math.max(1, Math.min(order.length, Math.round(order.length * validationFraction)));
        }
        return new IngestPlan(Arrays.copyOfRange(order, validation, order.length), Arrays.copyOf(order, validation));
    }

    /**
     * The validation indexes, at most {@code limit} of them (0: all): the first in the plan's
     * order. The share is taken first, so what the limit leaves of it goes to neither topic.
     */
    int[] validation(int limit) {
        return limit > 0 && limit < validation.length ? Arrays.copyOf(validation, limit) : validation;
    }

    static int[] order(int samples, boolean shuffle, long seed) {
        int[] order = new int[samples];
        for (int i = 0; i < samples; i++) {
            order[i] = i;
        }
        if (shuffle) {
            SplittableRandom r = new SplittableRandom(seed);
            for (int i = samples - 1; i > 0; i--) {
                int j = r.nextInt(i + 1);
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
        }
        return order;
    }
}
