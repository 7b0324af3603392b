package io.streamtrain.core.regularization;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class ParameterSelectorTest {

    private static ParameterSelector exclude(String... patterns) {
        return new ParameterSelector(List.of(patterns));
    }

    @Test
    void noPatternsRegularizesEverything() {
        ParameterSelector s = exclude();
        assertTrue(s.regularized("01Linear_weight"));
        assertTrue(s.regularized("01Linear_bias"));
    }

    @Test
    void substringBiasExemptsBiasesOnly() {
        ParameterSelector s = exclude("bias");
        assertFalse(s.regularized("01Linear_bias"));
        assertFalse(s.regularized("03Linear_bias"));
        assertTrue(s.regularized("01Linear_weight"));
        assertTrue(s.regularized("03Linear_weight"));
    }

    @Test
    void substringMatchesAnywhereInTheName() {
        ParameterSelector s = exclude("norm");
        assertFalse(s.regularized("02BatchNorm_gamma"));
        assertFalse(s.regularized("layernorm.weight"));
        assertTrue(s.regularized("01Linear_weight"));
    }

    @Test
    void matchingIgnoresCase() {
        assertFalse(exclude("BIAS").regularized("01Linear_bias"));
        assertFalse(exclude("bias").regularized("01Linear_BIAS"));
        assertFalse(exclude("*NORM*").regularized("02BatchNorm_beta"));
        assertFalse(exclude("01linear_*").regularized("01Linear_weight"));
    }

    @Test
    void globWithStarsOnBothSides() {
        ParameterSelector s = exclude("*norm*");
        assertFalse(s.regularized("02BatchNorm_gamma"));
        assertFalse(s.regularized("norm"));
        assertTrue(s.regularized("01Linear_weight"));
        assertTrue(s.regularized("01Linear_nor_m"));
    }

    @Test
    void globIsAnchoredToTheWholeName() {
        ParameterSelector s = exclude("01Linear_*");
        assertFalse(s.regularized("01Linear_weight"));
        assertFalse(s.regularized("01Linear_bias"));
        assertTrue(s.regularized("03Linear_weight"), "another layer");
        assertTrue(s.regularized("x01Linear_weight"), "a glob without a leading * matches from the start");

        ParameterSelector suffix = exclude("*_bias");
        assertFalse(suffix.regularized("01Linear_bias"));
        assertTrue(suffix.regularized("01Linear_bias_scale"), "a glob without a trailing * matches to the end");
    }

    @Test
    void globMetacharactersOtherThanStarAreLiteral() {
        ParameterSelector s = exclude("layer.0*");
        assertFalse(s.regularized("layer.0.weight"));
        assertTrue(s.regularized("layerX0.weight"), "'.' is not a regex wildcard");

        ParameterSelector brackets = exclude("w[1]*");
        assertFalse(brackets.regularized("w[1]_x"));
        assertTrue(brackets.regularized("w1_x"));
    }

    @Test
    void substringWithADotIsLiteral() {
        ParameterSelector s = exclude("0.bias");
        assertFalse(s.regularized("layer0.bias"));
        assertTrue(s.regularized("layer0xbias"));
    }

    @Test
    void severalPatternsCombine() {
        ParameterSelector s = exclude("bias", "*norm*", "01Linear_*");
        assertFalse(s.regularized("03Linear_bias"));
        assertFalse(s.regularized("02LayerNorm_gamma"));
        assertFalse(s.regularized("01Linear_weight"));
        assertTrue(s.regularized("03Linear_weight"));
    }
}
