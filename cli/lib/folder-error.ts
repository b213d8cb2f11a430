/** A model folder that cannot be pushed; the message says what to change. */
export class FolderError extends Error {}
