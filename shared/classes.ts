// The seven basic expressions, always in this order (SPEC §1): index 0..6.
export const EMOTION_CLASSES = ['angry', 'disgust', 'fear', 'happy', 'neutral', 'sad', 'surprise'] as const;

export type EmotionClass = (typeof EMOTION_CLASSES)[number];

export const NUM_CLASSES = EMOTION_CLASSES.length;
