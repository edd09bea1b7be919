// Cockpit's performance panel: the loss (mini-batch, epoch, validation) and the accuracy.
import { seriesKey } from "../../../store/seriesKeys.ts";
import { fixed } from "./chartBoard.ts";
import { lineCharts } from "./lineCharts.ts";

/**
 * Loss and accuracy (keys: the trainer's and the epochs' loss and accuracy; Cockpit's Loss
 * quantity is the mini-batch loss the loss chart shows every step, and the epoch counters are
 * bookkeeping, so neither is drawn again).
 */
export const performancePanel = lineCharts(
  [
    {
      id: "loss",
      title: "Loss",
      place: "bottom",
      lines: fixed([
        { key: seriesKey.train("loss"), label: "mini-batch", smooth: true },
        { key: seriesKey.epoch("loss"), label: "train (epoch)" },
        { key: seriesKey.epoch("val_loss"), label: "validation" },
      ]),
    },
    {
      id: "accuracy",
      title: "Accuracy",
      place: "bottom",
      yRange: [0, 1],
      lines: fixed([
        { key: seriesKey.epoch("accuracy"), label: "train" },
        { key: seriesKey.epoch("val_accuracy"), label: "validation" },
      ]),
    },
  ],
  [seriesKey.quantity("Loss"), seriesKey.epoch("epoch"), seriesKey.epoch("epoch_seconds")],
);
