package io.streamtrain.lab.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class TrainerScrapeTest {
    @Test
    void readsTheTrainersMetersOutOfAScrape() {
        String text = """
                # HELP streamtrain_trainer_epoch Epoch being trained
                # TYPE streamtrain_trainer_epoch gauge
                streamtrain_trainer_epoch{node="n",role="trainer",run="r",} 3.0
                streamtrain_trainer_steps_total{node="n",role="trainer",run="r",} 120.0
                streamtrain_trainer_samples_total{node="n",role="trainer",run="r",} 7680.0
                streamtrain_trainer_loss{node="n",role="trainer",run="r",term="data",} 0.5
                streamtrain_trainer_loss{node="n",role="trainer",run="r",term="l1",} 0.01
                streamtrain_trainer_loss{node="n",role="trainer",run="r",term="l2",} 0.02
                streamtrain_trainer_loss{node="n",role="trainer",run="r",term="total",} 0.53
                streamtrain_trainer_weight_norm{node="n",role="trainer",run="r",} 12.5
                streamtrain_trainer_partitions{node="n",role="trainer",run="r",} 2.0
                jvm_threads_live_threads{node="n",role="trainer",run="r",} 30.0
                """;
        TrainerScrape s = TrainerScrape.parse(text, 1000);
        assertEquals(1000, s.sample().timeMillis());
        assertEquals(3, s.sample().epoch());
        assertEquals(120, s.sample().step());
        assertEquals(7680, s.sample().samplesTotal());
        assertEquals(0.5, s.sample().dataLoss());
        assertEquals(0.01, s.sample().l1());
        assertEquals(0.02, s.sample().l2());
        assertTrue(Double.isNaN(s.sample().l2sp()), "a meter the scrape lacks is NaN");
        assertEquals(12.5, s.sample().weightNorm());
        assertEquals(2, s.partitions());
    }
}
