/**
 * What streamtrain writes on its topics and how it is read back: one codec per topic, used by
 * every writer and reader of that topic, so a newcomer finds a message's format in one place.
 *
 * <ul>
 *   <li>{@link io.streamtrain.core.protocol.CheckpointCodec}: {@code streamtrain.<run>.checkpoints}
 *       (payload chunks and the manifest, their headers);
 *   <li>{@link io.streamtrain.core.protocol.SyncCodec} with {@link io.streamtrain.core.protocol.SyncMessage}
 *       and {@link io.streamtrain.core.protocol.RoundSums}: {@code streamtrain.<run>.sync} (joins and
 *       contributions);
 *   <li>{@link io.streamtrain.core.protocol.Messages}: {@code streamtrain.<run>.control} (commands and
 *       acknowledgements), {@code streamtrain.<run>.evaluations} and {@code streamtrain.<run>.models};
 *   <li>{@link io.streamtrain.core.protocol.DeadLetters}: {@code streamtrain.<run>.dlq} (the original
 *       record and its headers).
 * </ul>
 *
 * Every JSON document carries its {@link io.streamtrain.core.protocol.FormatVersion}; each
 * reader's answer to a newer one is in docs/design.md ("Topics and who reads them").
 */
package io.streamtrain.core.protocol;
