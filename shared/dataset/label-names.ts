// Class names as datasets spell them: our seven names, the common synonyms (anger, happiness,
// sadness, surprised, fearful, disgusted, ...) and any capitalisation.

import { EMOTION_CLASSES, type EmotionClass } from '../classes.js';

const SYNONYMS: Readonly<Record<EmotionClass, readonly string[]>> = {
  angry: ['angry', 'anger', 'mad'],
  disgust: ['disgust', 'disgusted', 'disgusting'],
  fear: ['fear', 'fearful', 'afraid', 'scared'],
  happy: ['happy', 'happiness', 'joy', 'joyful'],
  neutral: ['neutral', 'neutrality'],
  sad: ['sad', 'sadness'],
  surprise: ['surprise', 'surprised'],
};

const CLASS_OF_NAME = new Map<string, number>(
  EMOTION_CLASSES.flatMap((name, index) => SYNONYMS[name].map((synonym) => [synonym, index] as const)),
);

/** Class index of a label name (case-insensitive, synonyms allowed), or undefined. */
export function classOfLabelName(name: string): number | undefined {
  return CLASS_OF_NAME.get(name.trim().toLowerCase());
}

/** For reports: what label names are accepted. */
export const ACCEPTED_LABEL_NAMES = `one of ${EMOTION_CLASSES.join(', ')} (any case) or a synonym such as ${['anger', 'happiness', 'sadness', 'surprised', 'fearful', 'disgusted'].join(', ')}`;
