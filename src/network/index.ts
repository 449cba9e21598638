export * from './cidr.ts';
export * from './ports.ts';
export * from './nft.ts';
export * from './link.ts';
export * from './dns.ts';
